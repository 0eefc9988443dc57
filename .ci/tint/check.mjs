// Compiles every WGSL kernel variant of gpu-basics with Tint, the WGSL compiler of
// Chrome, through Dawn's null backend (no GPU or driver needed), and creates one
// compute pipeline per entry point with its override constants. Pipelines that
// need more workgroup memory than the null adapter allows (the manifest's
// "workgroup_bytes") are built on Dawn's Vulkan backend instead, which needs
// VK_ICD_FILENAMES naming SwiftShader (run.sh sets it).
//
//     node check.mjs kernels.json            # or: ... | node check.mjs
//
// Input: the JSON array printed by `cargo run --release --example kernel_manifest`,
// elements {module, subgroups, source, entry, constants}. Elements that share a
// module are compiled once. `enable subgroups;` is prepended to a module whose
// element says "subgroups": true (Tint requires it; naga rejects it, so the crate's
// text omits it); line numbers printed below are those of the crate's text.
//
// Prints one line per module and per pipeline ("ok" or every message), then a
// summary. Exits 1 on any error, on an empty manifest, or when no subgroup
// variant was compiled (the subgroup code paths must not go unchecked).

import { readFileSync } from 'node:fs';
import { create, globals } from 'webgpu';

Object.assign(globalThis, globals);

const TIMEOUT_MS = 300_000;
const ENABLE_SUBGROUPS = 'enable subgroups;\n';

function die(msg) {
  console.error(`tint-check: FAIL: ${msg}`);
  process.exit(1);
}

// A hung promise in the native addon must not hang CI.
setTimeout(() => die(`no result after ${TIMEOUT_MS / 1000} s`), TIMEOUT_MS).unref();

function readManifest() {
  const arg = process.argv[2];
  let text;
  try {
    text = arg && arg !== '-' ? readFileSync(arg, 'utf8') : readFileSync(0, 'utf8');
  } catch (e) {
    die(`cannot read manifest ${arg ?? '(stdin)'}: ${e.message}`);
  }
  let kernels;
  try {
    kernels = JSON.parse(text);
  } catch (e) {
    die(`manifest is not JSON: ${e.message}`);
  }
  if (!Array.isArray(kernels)) die('manifest is not a JSON array');
  if (kernels.length === 0) die('manifest is empty: no kernels to compile');
  kernels.forEach((k, i) => {
    const bad = (what) => die(`manifest element ${i}: ${what}`);
    if (k === null || typeof k !== 'object') bad('not an object');
    if (typeof k.module !== 'string' || !k.module) bad('"module" is not a non-empty string');
    if (typeof k.source !== 'string' || !k.source) bad('"source" is not a non-empty string');
    if (typeof k.entry !== 'string' || !k.entry) bad('"entry" is not a non-empty string');
    if (typeof k.subgroups !== 'boolean') bad('"subgroups" is not a boolean');
    const w = k.workgroup_bytes;
    if (w !== undefined && w !== null && !(Number.isInteger(w) && w > 0)) bad('"workgroup_bytes" is not a positive integer or null');
    const c = k.constants ?? {};
    if (c === null || typeof c !== 'object' || Array.isArray(c)) bad('"constants" is not an object');
    for (const [name, v] of Object.entries(c)) {
      if (typeof v !== 'number' || !Number.isFinite(v)) bad(`constant ${name} is not a finite number`);
    }
  });
  return kernels;
}

const hasEnableSubgroups = (src) => /^\s*enable\s+[^;]*\bsubgroups\b[^;]*;/m.test(src);

// Where a message points, in the crate's text (the prepended line shifts Tint's).
function describe(msg, shift, source) {
  let where = '';
  let excerpt = '';
  if (msg.lineNum > 0) {
    const line = msg.lineNum - shift;
    if (line < 1) {
      where = ` [prepended "enable subgroups;" line]`;
    } else {
      where = ` [line ${line}:${msg.linePos}]`;
      const text = source.split('\n')[line - 1];
      if (text !== undefined) excerpt = `\n        | ${text.replace(/\s+$/, '')}`;
    }
  }
  return `    ${msg.type}${where}: ${msg.message}${excerpt}`;
}

function fmtConstants(c) {
  const e = Object.entries(c ?? {});
  return e.length ? `{${e.map(([k, v]) => `${k}=${v}`).join(', ')}}` : '{}';
}

// A device on `flags`' backend with the adapter's best limits (and subgroups
// where the manifest has subgroup variants), and its error plumbing.
async function openDevice(flags, wantSubgroups) {
  const gpu = create(flags);
  const adapter = await gpu.requestAdapter();
  if (!adapter) return null;
  const requiredFeatures = [];
  if (wantSubgroups) {
    if (!adapter.features.has('subgroups')) {
      die(`the manifest has subgroup variants but the ${flags.join(' ')} adapter offers no ` +
          `'subgroups' feature (it offers: ${[...adapter.features].sort().join(', ')})`);
    }
    requiredFeatures.push('subgroups');
  }
  // The adapter's best value of every limit (workgroup storage, invocations, ...).
  const requiredLimits = {};
  for (const name in adapter.limits) {
    const v = adapter.limits[name];
    if (typeof v === 'number') requiredLimits[name] = v;
  }
  const device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
  const stray = [];
  device.addEventListener?.('uncapturederror', (ev) => stray.push(ev.error?.message ?? String(ev)));
  device.lost.then((info) => {
    if (info.reason !== 'destroyed') die(`device lost: ${info.reason}: ${info.message}`);
  });
  const scoped = async (fn) => {
    device.pushErrorScope('internal');
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    let value;
    let thrown = null;
    try {
      value = await fn();
    } catch (e) {
      thrown = e;
    }
    const errors = [];
    for (let i = 0; i < 3; i++) {
      const err = await device.popErrorScope();
      if (err) errors.push(err.message);
    }
    return { value, thrown, errors };
  };
  const info = adapter.info ?? {};
  // `gpu` is kept: collecting the instance while its device works aborts Dawn.
  return { gpu, device, scoped, stray, limits: device.limits, name: `${info.vendor ?? ''} ${info.description ?? ''}`.trim() };
}

// Compiles k's module on `dev`: { ok, module, lines, shift }.
async function compileModule(dev, k, label) {
  const shift = k.subgroups && !hasEnableSubgroups(k.source) ? 1 : 0;
  const code = shift ? ENABLE_SUBGROUPS + k.source : k.source;
  const r = await dev.scoped(async () => {
    const module = dev.device.createShaderModule({ label, code });
    const info = await module.getCompilationInfo();
    return { module, messages: info.messages };
  });
  const messages = r.value?.messages ?? [];
  const errors = messages.filter((m) => m.type === 'error');
  const ok = !r.thrown && errors.length === 0 && r.errors.length === 0;
  const lines = messages.map((m) => describe(m, shift, k.source));
  // A scope error that only repeats the compilation messages adds nothing.
  for (const e of r.errors) {
    if (!errors.length || !errors.every((m) => e.includes(m.message))) lines.push(`    scope: ${e.trim()}`);
  }
  if (r.thrown) lines.push(`    exception: ${r.thrown.message ?? r.thrown}`);
  return { ok, module: r.value?.module, lines, shift };
}

// Creates k's pipeline from `module` on `dev`: { ok, lines }.
async function makePipeline(dev, module, k, label) {
  const r = await dev.scoped(() => dev.device.createComputePipelineAsync({
    label: `${label}::${k.entry}`,
    layout: 'auto',
    compute: { module, entryPoint: k.entry, constants: k.constants ?? {} },
  }));
  const lines = [];
  if (r.thrown) lines.push(`    ${r.thrown.name ?? 'error'}: ${String(r.thrown.message ?? r.thrown).trim()}`);
  for (const e of r.errors) lines.push(`    scope: ${e.trim()}`);
  const ok = lines.length === 0 && !!r.value;
  if (!ok && !lines.length) lines.push('    no pipeline and no message');
  return { ok, lines };
}

// Lets any uncaptured error event arrive, then counts them as failures.
async function strayErrors(dev) {
  await dev.device.queue.onSubmittedWorkDone();
  await new Promise((r) => setTimeout(r, 10));
  for (const s of dev.stray) console.log(`uncaptured error: ${s}`);
  return dev.stray.length;
}

async function main() {
  const kernels = readManifest();
  const wantSubgroups = kernels.some((k) => k.subgroups);

  const dev = await openDevice(['backend=null'], wantSubgroups);
  if (!dev) die('Dawn found no adapter for backend=null');
  const limits = dev.limits;
  console.log(`tint-check: Dawn backend=null, features [${[...dev.device.features].sort().join(', ')}], ` +
              `workgroup storage ${limits.maxComputeWorkgroupStorageSize} B, ` +
              `${limits.maxComputeInvocationsPerWorkgroup} invocations per workgroup`);

  // One module per (name, subgroups, text).
  const modules = new Map();
  let failed = 0;
  let subgroupModules = 0;
  let subgroupPipelines = 0;
  let pipelinesOk = 0;
  let modulesOk = 0;

  for (const k of kernels) {
    const key = JSON.stringify([k.module, k.subgroups, k.source]);
    if (modules.has(key)) continue;
    const sameName = [...modules.values()].filter((m) => m.name === k.module).length;
    const label = sameName ? `${k.module} #${sameName + 1}` : k.module;
    const c = await compileModule(dev, k, label);
    const shown = c.shift ? ' (with "enable subgroups;" prepended)' : '';
    console.log(`module   ${label}: ${c.ok ? 'ok' : 'FAIL'}${shown}` +
                (c.lines.length ? '\n' + c.lines.join('\n') : ''));
    if (c.ok) modulesOk++;
    else failed++;
    if (k.subgroups) subgroupModules++;
    modules.set(key, { name: k.module, label, ok: c.ok, module: c.module });
  }

  // Pipelines needing more workgroup memory than Dawn null allows (matmul
  // tiles over 16 KiB, which the crate runs only where a device has the
  // memory): built on Dawn's Vulkan backend over SwiftShader (32 KiB) below.
  const beyond = [];
  for (const k of kernels) {
    const m = modules.get(JSON.stringify([k.module, k.subgroups, k.source]));
    const what = `pipeline ${m.label} :: ${k.entry} ${fmtConstants(k.constants)}`;
    if (k.subgroups) subgroupPipelines++;
    if (!m.ok) {
      // Dawn would only say "invalid due to a previous error".
      console.log(`${what}: FAIL (its module did not compile: see above)`);
      failed++;
      continue;
    }
    if ((k.workgroup_bytes ?? 0) > limits.maxComputeWorkgroupStorageSize) {
      beyond.push({ k, what, label: m.label });
      continue;
    }
    const r = await makePipeline(dev, m.module, k, m.label);
    console.log(`${what}: ${r.ok ? 'ok' : 'FAIL'}` + (r.lines.length ? '\n' + r.lines.join('\n') : ''));
    if (r.ok) pipelinesOk++;
    else failed++;
  }
  failed += await strayErrors(dev);
  dev.device.destroy();

  let onVulkan = '';
  if (beyond.length) {
    // VK_ICD_FILENAMES must name SwiftShader (run.sh sets it): Dawn refuses
    // Mesa 22.3's lavapipe.
    if (!process.env.VK_ICD_FILENAMES) {
      die(`${beyond.length} pipeline(s) need more workgroup memory than Dawn null has; ` +
          'set VK_ICD_FILENAMES to SwiftShader\'s ICD (.ci/swiftshader.sh) to build them on Dawn\'s Vulkan backend');
    }
    const vk = await openDevice(['backend=vulkan'], wantSubgroups);
    if (!vk) die(`Dawn found no Vulkan adapter (VK_ICD_FILENAMES=${process.env.VK_ICD_FILENAMES})`);
    console.log(`tint-check: Dawn backend=vulkan on ${vk.name}, workgroup storage ` +
                `${vk.limits.maxComputeWorkgroupStorageSize} B, for ${beyond.length} pipeline(s)`);
    const vkModules = new Map();
    for (const { k, what, label } of beyond) {
      const key = JSON.stringify([k.module, k.subgroups, k.source]);
      if (!vkModules.has(key)) vkModules.set(key, await compileModule(vk, k, label));
      const c = vkModules.get(key);
      const r = c.ok ? await makePipeline(vk, c.module, k, label) : { ok: false, lines: c.lines };
      console.log(`${what}: ${r.ok ? 'ok' : 'FAIL'} (Dawn Vulkan, needs ${k.workgroup_bytes} B)` +
                  (r.lines.length ? '\n' + r.lines.join('\n') : ''));
      if (r.ok) pipelinesOk++;
      else failed++;
    }
    failed += await strayErrors(vk);
    vk.device.destroy();
    onVulkan = ` (${beyond.length} of them on Dawn's Vulkan backend over ${vk.name}: more workgroup memory than null has)`;
  }

  console.log(`tint-check: modules ${modulesOk}/${modules.size} ok, pipelines ${pipelinesOk}/${kernels.length} ok` +
              `${onVulkan} (subgroup variants: ${subgroupModules} modules, ${subgroupPipelines} pipelines), ` +
              `${failed} failure(s)`);
  if (subgroupModules === 0) die('no subgroup variant in the manifest: the subgroup code paths went unchecked');
  if (failed) die(`${failed} failure(s) in Tint`);
  console.log('tint-check: PASS');
  process.exit(0);
}

main().catch((e) => die(e?.stack ?? String(e)));
