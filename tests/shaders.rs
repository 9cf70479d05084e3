//! Every WGSL file parses and validates with naga (no GPU needed), and every kernel's Rust binding list
//! matches what its entry point declares: binding i of group 0, with the same access.


use naga::valid::{Capabilities, ValidationFlags, Validator};
use pathprox::gpu::Access;
use pathprox::ops::all_kernels;

fn validate(name: &str, source: &str) -> (naga::Module, naga::valid::ModuleInfo) {
    let module = naga::front::wgsl::parse_str(source).unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(source)));
    let info = Validator::new(ValidationFlags::all(), Capabilities::all())
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(source)));
    (module, info)
}

#[test]
fn every_shader_validates_and_every_file_is_used() {
    // A kernel's source may be several files concatenated (e.g. matmul_common + matmul_sg); each file
    // must be part of at least one kernel's source, and each kernel's source must validate.
    let kernels = all_kernels();
    for def in &kernels {
        validate(def.shader.name, def.shader.source);
    }
    let mut count = 0;
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "wgsl") {
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(kernels.iter().any(|k| k.shader.source.contains(&text)), "{} is not used by any kernel in ops::all_kernels()", path.display());
            count += 1;
        }
    }
    assert!(count > 0);
}

#[test]
fn kernel_bindings_match_their_shaders() {
    for def in all_kernels() {
        let (module, info) = validate(def.shader.name, def.shader.source);
        let name = format!("{}::{}", def.shader.name, def.entry);
        let ep = module.entry_points.iter().position(|e| e.name == def.entry).unwrap_or_else(|| panic!("{name}: no such entry point"));
        let ep_info = info.get_entry_point(ep);
        for (handle, var) in module.global_variables.iter() {
            let Some(binding) = &var.binding else { continue };
            if ep_info[handle].is_empty() {
                continue; // declared in the file but not used by this entry point
            }
            assert_eq!(binding.group, 0, "{name}: only bind group 0 is used");
            let declared = def.bindings.get(binding.binding as usize).unwrap_or_else(|| panic!("{name}: binding {} not in the Rust list", binding.binding));
            let actual = match var.space {
                naga::AddressSpace::Uniform => Access::Uniform,
                naga::AddressSpace::Storage { access } if access.contains(naga::StorageAccess::STORE) => Access::ReadWrite,
                naga::AddressSpace::Storage { .. } => Access::Read,
                other => panic!("{name}: unexpected address space {other:?}"),
            };
            assert_eq!(*declared, actual, "{name}: binding {} is {actual:?} in WGSL but {declared:?} in Rust", binding.binding);
        }
    }
}

#[test]
fn tunable_constants_can_be_specialized() {
    // Each shader's tunables are `const NAME: u32 = ...;` lines; specializing one must keep the file valid.
    for def in all_kernels() {
        for line in def.shader.source.lines().filter(|l| l.starts_with("const ") && l.contains(": u32 =")) {
            let name: &'static str = Box::leak(line["const ".len()..line.find(':').unwrap()].to_string().into_boxed_str());
            let value = line[line.find('=').unwrap() + 1..line.find(';').unwrap()].trim().trim_end_matches('u');
            // Only literal values are tunable; derived constants (e.g. `WY * TM`) follow them.
            if let Ok(value) = value.parse::<u32>() {
                let src = pathprox::gpu::kernel::specialize(def.shader, &[(name, value)]).unwrap();
                validate(def.shader.name, &src);
            }
        }
    }
    let err = pathprox::gpu::kernel::specialize(all_kernels()[0].shader, &[("NO_SUCH_CONST", 1)]).unwrap_err();
    assert!(err.to_string().contains("NO_SUCH_CONST"));
}
