//! Every WGSL file parses and validates with naga (the validator wgpu uses), on
//! any machine, GPU or not: a broken shader fails here, not in a user's run.

#[test]
fn every_shader_validates() {
    let sources = gpu_basics::gpu::shader_sources();
    assert!(!sources.is_empty());
    for (file, source) in &sources {
        let module = naga::front::wgsl::parse_str(source)
            .unwrap_or_else(|e| panic!("shaders/{file}: {}", e.emit_to_string(source)));
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("shaders/{file}: {e:?}"));
    }
}

#[test]
fn every_file_in_shaders_is_used() {
    let used = gpu_basics::gpu::shader_files();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/shaders");
    for dir in ["", "shared/"] {
        for entry in std::fs::read_dir(format!("{root}/{dir}")).unwrap() {
            let name = format!("{dir}{}", entry.unwrap().file_name().into_string().unwrap());
            if name.ends_with(".wgsl") {
                assert!(
                    used.contains(&name.as_str()),
                    "shaders/{name} is not in the kernel table"
                );
            }
        }
    }
}
