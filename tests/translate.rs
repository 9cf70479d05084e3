//! Every kernel, in every specialization the crate can compile (`ops::every_specialization`), translates
//! through naga to each backend's language: SPIR-V (Vulkan), MSL (Metal), HLSL (DX12) and GLSL ES
//! (OpenGL). wgpu performs the same translation when a pipeline is created, so a construct one backend
//! rejects fails here, on a machine with no GPU, instead of on a user's Mac or Windows machine.
//!
//! Versions are the lowest that the kernels' features need on each backend, as wgpu would pick them on a
//! device with subgroup support: SPIR-V 1.3 (subgroup operations), MSL 2.1 (SIMD-group functions),
//! HLSL shader model 6.0 (wave intrinsics), GLSL ES 3.10 (compute shaders; wgpu's GL backend has no
//! subgroups, so subgroup kernels are never compiled there and are not translated to GLSL).

use naga::back::{glsl, hlsl, msl, spv};
use naga::valid::{Capabilities, ModuleInfo, ValidationFlags, Validator};
use pathprox::gpu::kernel::specialize;
use pathprox::gpu::{KernelDef, Variant};
use pathprox::ops::{conv2d, every_specialization, matmul};

fn compile(def: &KernelDef, variant: &Variant) -> (String, naga::Module, ModuleInfo) {
    let name = format!("{}::{} {:?}", def.shader.name, def.entry, variant);
    let source = specialize(def.shader, variant).unwrap_or_else(|e| panic!("{name}: {e}"));
    let module = naga::front::wgsl::parse_str(&source).unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(&source)));
    // What a device grants: WebGPU's baseline, plus subgroups only for the kernels that declare they need
    // them — so a portable kernel that used a subgroup operation (and would fail on WebGPU, GL and most
    // GPUs) fails here.
    let caps = if def.shader.subgroups { Capabilities::default() | Capabilities::SUBGROUP } else { Capabilities::default() };
    let info = Validator::new(ValidationFlags::all(), caps)
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(&source)));
    (name, module, info)
}

/// Writes a module's entry point in one backend's language; returns the output's size.
type Writer = fn(&naga::Module, &ModuleInfo, &str) -> Result<usize, String>;

fn spirv(module: &naga::Module, info: &ModuleInfo, entry: &str) -> Result<usize, String> {
    let options = spv::Options { lang_version: (1, 3), ..Default::default() };
    let pipeline = spv::PipelineOptions { shader_stage: naga::ShaderStage::Compute, entry_point: entry.into() };
    spv::write_vec(module, info, &options, Some(&pipeline)).map(|w| w.len() * 4).map_err(|e| format!("{e:?}"))
}

fn metal(module: &naga::Module, info: &ModuleInfo, entry: &str) -> Result<usize, String> {
    let options = msl::Options { lang_version: (2, 1), ..Default::default() };
    let pipeline = msl::PipelineOptions { entry_point: Some((naga::ShaderStage::Compute, entry.into())), ..Default::default() };
    msl::write_string(module, info, &options, &pipeline).map(|(s, _)| s.len()).map_err(|e| format!("{e:?}"))
}

fn hlsl(module: &naga::Module, info: &ModuleInfo, entry: &str) -> Result<usize, String> {
    let options = hlsl::Options { shader_model: hlsl::ShaderModel::V6_0, ..Default::default() };
    let pipeline = hlsl::PipelineOptions { entry_point: Some((naga::ShaderStage::Compute, entry.into())) };
    let mut out = String::new();
    hlsl::Writer::new(&mut out, &options, &pipeline).write(module, info, None).map_err(|e| format!("{e:?}"))?;
    Ok(out.len())
}

fn gles(module: &naga::Module, info: &ModuleInfo, entry: &str) -> Result<usize, String> {
    let options = glsl::Options { version: glsl::Version::new_gles(310), ..Default::default() };
    let pipeline = glsl::PipelineOptions { shader_stage: naga::ShaderStage::Compute, entry_point: entry.into(), multiview: None };
    let mut out = String::new();
    glsl::Writer::new(&mut out, module, info, &options, &pipeline, Default::default())
        .and_then(|mut w| w.write())
        .map_err(|e| format!("{e:?}"))?;
    Ok(out.len())
}

#[test]
fn every_specialization_translates_to_every_backend() {
    let all = every_specialization();
    let mut failures = Vec::new();
    let mut translated = 0;
    for (def, variant) in &all {
        let (name, module, info) = compile(def, variant);
        let mut backends: Vec<(&str, Writer)> = vec![("SPIR-V", spirv), ("MSL", metal), ("HLSL", hlsl)];
        if !def.shader.subgroups {
            backends.push(("GLSL ES", gles));
        }
        for (backend, write) in backends {
            match write(&module, &info, def.entry) {
                Ok(bytes) if bytes > 0 => translated += 1,
                Ok(_) => failures.push(format!("{name} → {backend}: empty output")),
                Err(e) => failures.push(format!("{name} → {backend}: {e}")),
            }
        }
    }
    assert!(failures.is_empty(), "{} translation(s) failed:\n{}", failures.len(), failures.join("\n"));
    // Guards against the list silently shrinking: the tunable kernels contribute many variants each.
    assert!(all.len() > 40 && translated > 4 * 30, "only {} specializations, {translated} translations", all.len());
}

#[test]
fn an_adapter_without_subgroups_is_only_offered_portable_kernels() {
    // WebGPU without the subgroups feature, most GPUs' OpenGL, and adapters whose subgroups are not 8
    // wide: every tunable op must still have candidates, none of which needs subgroups.
    for cpu in [true, false] {
        let v = matmul::Algo::candidates_for(false, cpu);
        assert!(!v.is_empty());
        for a in v {
            assert!(!format!("{a:?}").contains("Subgroup"), "matmul {a:?} offered without subgroups");
        }
    }
    for cpu in [true, false] {
        for (h, w) in [(32, 32), (7, 7), (2, 2), (1, 1)] {
            for c_out in [3, 64] {
                let v = conv2d::Algo::candidates_for(false, cpu, h, w, c_out);
                assert!(!v.is_empty() && v.iter().all(|a| !format!("{a:?}").contains("Subgroup")), "{v:?}");
            }
            let v = conv2d::WgradAlgo::candidates_for(false, cpu, h, w);
            assert!(!v.is_empty() && v.iter().all(|a| !format!("{a:?}").contains("Subgroup")), "{v:?}");
        }
    }
}
