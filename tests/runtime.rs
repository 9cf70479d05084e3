//! The runtime itself: uploads and read-backs, views, the buffer pool, recorded programs, grid folding.

mod common;

use common::*;
use pathprox::gpu::{DType, Program, Recorder};
use pathprox::ops::{elementwise, matmul::{cpu, MatMul}};

#[test]
fn upload_read_back_round_trips_and_rejects_wrong_lengths() {
    on_each_gpu(|gpu| {
        let data: Vec<f32> = (0..37).map(|i| i as f32 * 0.5 - 3.0).collect();
        let t = gpu.upload_f32(&[37], &data).unwrap();
        assert_eq!(gpu.to_vec_f32(&t).unwrap(), data);
        let u = gpu.upload_u32(&[3], &[7, 0, u32::MAX]).unwrap();
        assert_eq!(gpu.to_vec_u32(&u).unwrap(), vec![7, 0, u32::MAX]);
        let e = gpu.upload_f32(&[2, 3], &data).unwrap_err().to_string();
        assert!(e.contains("holds 6 elements but 37"), "{e}");
    });
}

#[test]
fn views_read_write_and_bind_their_own_range() {
    on_each_gpu(|gpu| {
        // Two matrices in one buffer at a 256-byte-aligned offset, as a model stores its parameters.
        let flat = gpu.zeros(&[64 + 6 * 4]);
        let a = flat.view(0, &[5, 6]).unwrap();
        let b = flat.view(64, &[6, 4]).unwrap();
        let mut rng = Rng::new(3);
        let (av, bv) = (rng.vec(30, -1.0, 1.0), rng.vec(24, -1.0, 1.0));
        gpu.write_f32(&a, &av).unwrap();
        gpu.write_f32(&b, &bv).unwrap();
        assert_eq!(gpu.to_vec_f32(&b).unwrap(), bv);
        let all = gpu.to_vec_f32(&flat).unwrap();
        assert_eq!(&all[..30], &av[..]);
        assert!(all[30..64].iter().all(|&x| x == 0.0), "writing a view must not touch its neighbours");
        let c = gpu.empty(&[5, 4], DType::F32);
        gpu.poison(&c);
        let mut prog = Program::new();
        MatMul::new().record(gpu, &mut prog, &a, &b, &c).unwrap();
        gpu.run(&prog);
        let want = cpu::matmul(&to_f64(&av), &to_f64(&bv), 5, 4, 6, false, false);
        assert_close("matmul of views", &gpu.to_vec_f32(&c).unwrap(), &want, 1e-5, 1e-5);
        assert!(flat.view(80, &[10]).is_err());
    });
}

#[test]
fn recorder_copy_and_clear_respect_views() {
    on_each_gpu(|gpu| {
        let flat = gpu.upload_f32(&[128], &(0..128).map(|i| i as f32).collect::<Vec<_>>()).unwrap();
        let dst = gpu.zeros(&[8]);
        let mut rec = Recorder::new(gpu);
        rec.copy(&flat.view(64, &[8]).unwrap(), &dst);
        rec.clear(&flat.view(8, &[8]).unwrap());
        rec.submit();
        assert_eq!(gpu.to_vec_f32(&dst).unwrap(), (64..72).map(|i| i as f32).collect::<Vec<_>>());
        let all = gpu.to_vec_f32(&flat).unwrap();
        assert!(all[8..16].iter().all(|&x| x == 0.0) && all[7] == 7.0 && all[16] == 16.0);
    });
}

#[test]
fn pool_recycles_buffers_only_after_their_work_is_done() {
    let gpu = first_gpu();
    let gpu: &pathprox::gpu::Gpu = &gpu;
    let before = gpu.pool_counts();
    {
        let t = gpu.zeros(&[1000]);
        let mut prog = Program::new();
        let y = gpu.empty(&[1000], DType::F32);
        elementwise::relu_forward(gpu, &mut prog, &t, &y).unwrap();
        gpu.run(&prog);
        // The program still holds t and y: nothing can be recycled yet.
        drop(t);
        drop(y);
        drop(prog);
    }
    gpu.wait_idle().unwrap();
    let (free, retired) = gpu.pool_counts();
    assert!(free >= before.0 + 2, "buffers should be free again after the GPU finished: {:?} -> {:?}", before, (free, retired));
    // A recycled buffer comes back for a tensor of the same size.
    let _t = gpu.empty(&[1000], DType::F32);
    assert_eq!(gpu.pool_counts().0, free - 1);
}

#[test]
fn grids_beyond_the_dimension_limit_fold_into_two_dimensions() {
    on_each_gpu(|gpu| {
        // 70,001 ReLUs at 256 per workgroup fit one dimension; force folding by asking for the grid directly.
        let max = gpu.limits.max_compute_workgroups_per_dimension;
        assert_eq!(gpu.grid_1d(10), [10, 1, 1]);
        let g = gpu.grid_1d(max + 5);
        assert_eq!(g, [max, 2, 1]);
        // And a ReLU over more elements than one dimension of 256-wide workgroups can hold, when the
        // limit allows that on this adapter's memory (65535·256 = 16.8 M floats = 67 MB).
        let n = (max as usize) * 256 + 300;
        if (n * 4) as u64 <= gpu.limits.max_storage_buffer_binding_size {
            let x: Vec<f32> = (0..n).map(|i| if i % 3 == 0 { -1.0 } else { i as f32 }).collect();
            let xt = gpu.upload_f32(&[n], &x).unwrap();
            let y = gpu.empty(&[n], DType::F32);
            gpu.poison(&y);
            let mut prog = Program::new();
            elementwise::relu_forward(gpu, &mut prog, &xt, &y).unwrap();
            assert!(prog.dispatches[0].workgroups[1] > 1);
            gpu.run(&prog);
            let out = gpu.to_vec_f32(&y).unwrap();
            assert!(out.iter().zip(&x).all(|(&o, &i)| o == i.max(0.0)), "folded grid missed elements");
        }
    });
}

#[test]
fn a_preset_tuning_choice_past_the_candidate_list_is_decided_again() {
    let gpu = first_gpu();
    let gpu: &pathprox::gpu::Gpu = &gpu;
    // As if resumed from a checkpoint of a build that offered 5 candidates where this one offers 2.
    gpu.preset_tuning("test key past the end", 4);
    let i = gpu.tune("test key past the end", 2, |_| Ok(Vec::new()));
    assert!(i < 2, "choice {i} is not one of the 2 candidates");
    // A preset choice inside the list is kept and nothing is built.
    gpu.preset_tuning("test key inside", 1);
    assert_eq!(gpu.tune("test key inside", 2, |_| panic!("a preset choice must not be timed")), 1);
}
