// Proof, not CI: does Dawn (webgpu@0.6.2) run a compute kernel of the crate on
// SwiftShader (Vulkan on the CPU) on this machine? Runs the `sigmoid` entry point
// from the kernel manifest on a few values and compares with float64.
//
//     node run_dawn.mjs kernels.json
//
// Uses VK_ICD_FILENAMES when set; otherwise writes a copy of SwiftShader's ICD
// json with an absolute library_path to /tmp (the packaged one says
// "./libvk_swiftshader.so", relative to the loader's cwd) and points at it.

import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { tmpdir } from 'node:os';

const t0 = performance.now();
const ms = () => `${(performance.now() - t0).toFixed(0)} ms`;

if (!process.env.VK_ICD_FILENAMES) {
  const icd = '/opt/swiftshader/x/usr/lib/chromium/vk_swiftshader_icd.json';
  if (!existsSync(icd)) throw new Error(`VK_ICD_FILENAMES unset and no ${icd}`);
  const j = JSON.parse(readFileSync(icd, 'utf8'));
  j.ICD.library_path = join(dirname(icd), 'libvk_swiftshader.so');
  const copy = join(tmpdir(), 'vk_swiftshader_icd.abs.json');
  writeFileSync(copy, JSON.stringify(j));
  process.env.VK_ICD_FILENAMES = copy; // read by the Vulkan loader at instance creation
}

const { create, globals } = await import('webgpu');
Object.assign(globalThis, globals);

const manifest = JSON.parse(readFileSync(process.argv[2] ?? 0, 'utf8'));
const k = manifest.find((e) => e.entry === 'sigmoid');
if (!k) throw new Error('no "sigmoid" entry point in the manifest');

const gpu = create([]);
const adapter = await gpu.requestAdapter();
if (!adapter) throw new Error('Dawn found no adapter (VK_ICD_FILENAMES=' + process.env.VK_ICD_FILENAMES + ')');
const info = adapter.info;
console.log(`adapter: ${info.vendor} / ${info.architecture} / ${info.device} / ${info.description} ` +
            `(subgroups ${adapter.features.has('subgroups')}, ` +
            `subgroup size ${info.subgroupMinSize}..${info.subgroupMaxSize}) at ${ms()}`);
const device = await adapter.requestDevice();
device.addEventListener?.('uncapturederror', (ev) => console.error('uncaptured:', ev.error?.message));

// 3 workgroups' worth plus a tail: 64 * 4 * 3 + 5 values (padded to whole vec4s).
const n = 64 * 4 * 3 + 5;
const vec4s = Math.ceil(n / 4);
const xs = new Float32Array(vec4s * 4);
const specials = [0, -0, 1, -1, 20, -20, 88.7, -88.7, 1e-30, -1e-30, 3.4e38, -3.4e38];
for (let i = 0; i < xs.length; i++) xs[i] = i < specials.length ? specials[i] : (i - xs.length / 2) / 37;

device.pushErrorScope('validation');
const module = device.createShaderModule({ code: k.source });
const pipeline = await device.createComputePipelineAsync({
  layout: 'auto', compute: { module, entryPoint: 'sigmoid' } });
const xBuf = device.createBuffer({ size: xs.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
const outBuf = device.createBuffer({ size: xs.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
const readBuf = device.createBuffer({ size: xs.byteLength, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
device.queue.writeBuffer(xBuf, 0, xs);
const bindGroup = device.createBindGroup({
  layout: pipeline.getBindGroupLayout(0),
  entries: [{ binding: 0, resource: { buffer: xBuf } }, { binding: 1, resource: { buffer: outBuf } }],
});
const t1 = performance.now();
const enc = device.createCommandEncoder();
const pass = enc.beginComputePass();
pass.setPipeline(pipeline);
pass.setBindGroup(0, bindGroup);
pass.dispatchWorkgroups(Math.ceil(vec4s / 64));
pass.end();
enc.copyBufferToBuffer(outBuf, 0, readBuf, 0, xs.byteLength);
device.queue.submit([enc.finish()]);
await readBuf.mapAsync(GPUMapMode.READ);
const out = new Float32Array(readBuf.getMappedRange().slice(0));
readBuf.unmap();
const dispatchMs = performance.now() - t1;
const err = await device.popErrorScope();
if (err) throw new Error(`validation: ${err.message}`);

// WGSL's accuracy: exp within 3 + 2|x| ulp, division 2.5 ulp, additions exact-ish;
// subnormal results may be flushed to zero.
const ulp = (v) => 2 ** (Math.max(Math.floor(Math.log2(Math.max(Math.abs(v), 2 ** -126))), -126) - 23);
let worst = 0;
let bad = 0;
let flushed = 0;
for (let i = 0; i < xs.length; i++) {
  const want = 1 / (1 + Math.exp(-Math.abs(xs[i]))) * (xs[i] >= 0 ? 1 : Math.exp(-Math.abs(xs[i])));
  const diff = Math.abs(out[i] - want);
  const ulps = diff / ulp(want);
  if (want !== 0 && Math.abs(want) < 2 ** -126 && out[i] === 0) {
    flushed++;
    continue;
  }
  worst = Math.max(worst, ulps);
  if (!(ulps <= 3 + 2 * Math.abs(xs[i]) + 4)) {
    bad++;
    if (bad <= 10) console.log(`  x=${xs[i]} got ${out[i]} want ${want} (${ulps.toFixed(1)} ulp)`);
  }
}
console.log(`sigmoid on ${xs.length} values (${Math.ceil(vec4s / 64)} workgroups): ` +
            `${bad} outside WGSL's accuracy, worst ${worst.toFixed(1)} ulp, ${flushed} subnormal(s) flushed to 0; ` +
            `first: ${Array.from(out.slice(0, 8), (v) => v.toPrecision(7)).join(' ')}`);
console.log(`dispatch+readback ${dispatchMs.toFixed(1)} ms; total ${ms()}`);
device.destroy();
process.exit(bad ? 1 : 0);
