//! `Gpu`: the one long-lived context (device, queue, limits, pipeline cache, buffer pool), built once and
//! passed to everything. Getting a device (`Gpu::new`) is kept apart from using one (`Gpu::from_adapter`,
//! `Gpu::from_device`), as in wgpu's `hello_compute`, so tests, the CLI and a web page each bring their own.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use super::adapter::{self, AdapterChoice};
use super::kernel::PipelineCache;
use super::pool::{BufferPool, Serials, padded_size};
use super::tensor::{DType, Tensor};
use crate::error::{Error, Result};

pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    pub features: wgpu::Features,
    pub(crate) pipelines: PipelineCache,
    pool: Arc<BufferPool>,
    serials: Arc<Serials>,
    /// Errors wgpu reported outside any error scope, waiting to be returned by `check_errors`.
    errors: Arc<Mutex<Vec<String>>>,
    /// Per-adapter kernel choices, measured on first use (see `gpu::tuning`).
    pub(crate) tuning: super::tuning::TuningCache,
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Gpu({})", self.describe())
    }
}

impl Gpu {
    /// Picks an adapter as `choice` asks and opens a device on it.
    pub async fn new(choice: &AdapterChoice) -> Result<Gpu> {
        let adapter = adapter::select(choice).await?;
        Gpu::from_adapter(&adapter).await
    }

    /// Opens a device with the adapter's full limits and the optional features the kernels can use.
    pub async fn from_adapter(adapter: &wgpu::Adapter) -> Result<Gpu> {
        Gpu::from_adapter_with_limits(adapter, adapter.limits()).await
    }

    /// As `from_adapter`, with chosen limits (tests lower them to exercise work splitting).
    pub async fn from_adapter_with_limits(adapter: &wgpu::Adapter, limits: wgpu::Limits) -> Result<Gpu> {
        let info = adapter.get_info();
        let features = adapter.features() & wgpu::Features::SUBGROUP;
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("pathprox"),
                required_features: features,
                required_limits: limits,
                experimental_features: wgpu::ExperimentalFeatures::disabled(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .map_err(|e| Error::RequestDevice { adapter: info.name.clone(), reason: e.to_string() })?;
        Ok(Gpu::from_device(device, queue, info))
    }

    /// Wraps a device someone else opened (a web page, an application with its own renderer).
    pub fn from_device(device: wgpu::Device, queue: wgpu::Queue, info: wgpu::AdapterInfo) -> Gpu {
        let errors: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = errors.clone();
        // Without a handler wgpu panics on the first validation error; we return it as `Error::Gpu` instead.
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| sink.lock().unwrap().push(e.to_string())));
        let serials = Arc::new(Serials::default());
        Gpu {
            limits: device.limits(),
            features: device.features(),
            pool: BufferPool::new(serials.clone()),
            serials,
            device,
            queue,
            info,
            pipelines: PipelineCache::default(),
            errors,
            tuning: Default::default(),
        }
    }

    /// "llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan, Cpu, ...)".
    pub fn describe(&self) -> String {
        adapter::describe(&self.info)
    }

    /// The fixed subgroup width, if the adapter has subgroups of one size only (lavapipe: 8).
    pub fn fixed_subgroup_size(&self) -> Option<u32> {
        let (lo, hi) = (self.info.subgroup_min_size, self.info.subgroup_max_size);
        (self.features.contains(wgpu::Features::SUBGROUP) && lo == hi && lo > 0).then_some(lo)
    }

    /// Returns (and clears) the errors wgpu reported since the last call.
    pub fn check_errors(&self) -> Result<()> {
        let mut errors = self.errors.lock().unwrap();
        if errors.is_empty() {
            return Ok(());
        }
        let msg = errors.join("\n");
        errors.clear();
        Err(Error::Gpu(msg))
    }

    // ---- tensors -------------------------------------------------------------------------------------

    /// A tensor whose contents are unspecified (a recycled buffer): for outputs a kernel fully writes.
    pub fn empty(&self, shape: &[usize], dtype: DType) -> Tensor {
        let n: usize = shape.iter().product();
        Tensor::from_parts(self.pool.take(&self.device, n as u64 * 4), shape, dtype)
    }

    pub fn zeros(&self, shape: &[usize]) -> Tensor {
        let t = self.empty(shape, DType::F32);
        self.queue.write_buffer(t.buffer(), 0, &vec![0u8; t.buffer().size() as usize]);
        t
    }

    pub fn zeros_u32(&self, shape: &[usize]) -> Tensor {
        let t = self.empty(shape, DType::U32);
        self.queue.write_buffer(t.buffer(), 0, &vec![0u8; t.buffer().size() as usize]);
        t
    }

    pub fn upload_f32(&self, shape: &[usize], data: &[f32]) -> Result<Tensor> {
        self.upload(shape, DType::F32, bytemuck::cast_slice(data))
    }

    pub fn upload_u32(&self, shape: &[usize], data: &[u32]) -> Result<Tensor> {
        self.upload(shape, DType::U32, bytemuck::cast_slice(data))
    }

    fn upload(&self, shape: &[usize], dtype: DType, bytes: &[u8]) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        if n * 4 != bytes.len() {
            return Err(Error::shape("upload", format!("shape {shape:?} holds {n} elements but {} were given", bytes.len() / 4)));
        }
        let t = self.empty(shape, dtype);
        self.write(&t, bytes);
        Ok(t)
    }

    /// Overwrites a tensor's contents (queued: it happens before the next submit's commands).
    pub fn write_f32(&self, t: &Tensor, data: &[f32]) -> Result<()> {
        if data.len() != t.len() {
            return Err(Error::shape("write", format!("tensor {:?} holds {} elements, got {}", t.shape(), t.len(), data.len())));
        }
        self.write(t, bytemuck::cast_slice(data));
        Ok(())
    }

    pub fn write_u32(&self, t: &Tensor, data: &[u32]) -> Result<()> {
        if data.len() != t.len() {
            return Err(Error::shape("write", format!("tensor {:?} holds {} elements, got {}", t.shape(), t.len(), data.len())));
        }
        self.write(t, bytemuck::cast_slice(data));
        Ok(())
    }

    fn write(&self, t: &Tensor, bytes: &[u8]) {
        if t.offset() == 0 && t.buffer().size() == padded_size(bytes.len() as u64) {
            // A whole buffer: define its padding too (zeros), so vec4 reads past the end see numbers.
            let mut padded = bytes.to_vec();
            padded.resize(t.buffer().size() as usize, 0);
            self.queue.write_buffer(t.buffer(), 0, &padded);
        } else if !bytes.is_empty() {
            self.queue.write_buffer(t.buffer(), t.byte_offset(), bytes);
        }
    }

    /// Fills a tensor with NaN bit patterns, so that a test sees every element a kernel failed to write.
    pub fn poison(&self, t: &Tensor) {
        let words = vec![0x7FC0_0BADu32; t.len()];
        self.write(t, bytemuck::cast_slice(&words));
    }

    pub(crate) fn uniform_buffer(&self, label: &str, bytes: &[u8]) -> wgpu::Buffer {
        use wgpu::util::DeviceExt;
        let mut contents = bytes.to_vec();
        contents.resize(padded_size(bytes.len() as u64) as usize, 0);
        self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: &contents,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        })
    }

    /// (free, retired) buffer counts of the pool.
    pub fn pool_counts(&self) -> (usize, usize) {
        self.poll();
        self.pool.counts()
    }

    // ---- submission and read-back ---------------------------------------------------------------------

    /// Submits command buffers and counts the submission, so the pool knows when buffers are free again.
    pub fn submit(&self, commands: impl IntoIterator<Item = wgpu::CommandBuffer>) -> wgpu::SubmissionIndex {
        let index = self.queue.submit(commands);
        let serial = self.serials.submitted.fetch_add(1, Ordering::AcqRel) + 1;
        let serials = self.serials.clone();
        self.queue.on_submitted_work_done(move || {
            serials.completed.fetch_max(serial, Ordering::AcqRel);
        });
        index
    }

    /// Lets finished work run its callbacks without waiting (a no-op in the browser, which does it itself).
    pub fn poll(&self) {
        #[cfg(not(target_arch = "wasm32"))]
        let _ = self.device.poll(wgpu::PollType::Poll);
    }

    /// Blocks until everything submitted so far has finished (native only; the browser cannot block).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn wait_idle(&self) -> Result<()> {
        self.device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| Error::Gpu(e.to_string()))?;
        self.check_errors()
    }

    /// Blocks until submission `index` has finished (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn wait_for(&self, index: wgpu::SubmissionIndex) -> Result<()> {
        self.device
            .poll(wgpu::PollType::Wait { submission_index: Some(index), timeout: None })
            .map_err(|e| Error::Gpu(e.to_string()))?;
        self.check_errors()
    }

    /// Copies a tensor to the host. Async because the browser can only map buffers asynchronously;
    /// natively it blocks inside (`device.poll`), so `pollster::block_on` finishes at once.
    pub async fn read_bytes(&self, t: &Tensor) -> Result<Vec<u8>> {
        let size = t.bytes().max(4);
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("read-back"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = self.device.create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(t.buffer(), t.byte_offset(), &staging, 0, Some(t.bytes()));
        self.submit([encoder.finish()]);
        let (sender, receiver) = oneshot();
        // map_async is not an async function: it registers a callback that runs once the copy is done,
        // during a later `device.poll` (native) or by the browser's event loop (web).
        staging.slice(..).map_async(wgpu::MapMode::Read, move |r| sender.send(r));
        #[cfg(not(target_arch = "wasm32"))]
        self.device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| Error::ReadBack(e.to_string()))?;
        receiver.await.map_err(|e| Error::ReadBack(e.to_string()))?;
        self.check_errors()?;
        let view = staging.slice(..).get_mapped_range().map_err(|e| Error::ReadBack(e.to_string()))?;
        let mut bytes = view.to_vec();
        drop(view);
        staging.unmap();
        bytes.truncate(t.bytes() as usize);
        Ok(bytes)
    }

    pub async fn read_f32(&self, t: &Tensor) -> Result<Vec<f32>> {
        Ok(bytemuck::pod_collect_to_vec(&self.read_bytes(t).await?))
    }

    pub async fn read_u32(&self, t: &Tensor) -> Result<Vec<u32>> {
        Ok(bytemuck::pod_collect_to_vec(&self.read_bytes(t).await?))
    }
}

/// A one-value channel whose receiver is a future: enough to await `map_async` without an async runtime.
fn oneshot<T>() -> (Sender<T>, Receiver<T>) {
    let slot = Arc::new(Mutex::new((None, None)));
    (Sender(slot.clone()), Receiver(slot))
}

type Slot<T> = Arc<Mutex<(Option<T>, Option<std::task::Waker>)>>;
struct Sender<T>(Slot<T>);
struct Receiver<T>(Slot<T>);

impl<T> Sender<T> {
    fn send(self, value: T) {
        let mut slot = self.0.lock().unwrap();
        slot.0 = Some(value);
        if let Some(w) = slot.1.take() {
            w.wake();
        }
    }
}

impl<T> std::future::Future for Receiver<T> {
    type Output = T;
    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<T> {
        let mut slot = self.0.lock().unwrap();
        match slot.0.take() {
            Some(v) => std::task::Poll::Ready(v),
            None => {
                slot.1 = Some(cx.waker().clone());
                std::task::Poll::Pending
            }
        }
    }
}

/// Native conveniences: block on the async API (tests, the CLI, benchmarks).
#[cfg(not(target_arch = "wasm32"))]
impl Gpu {
    pub fn new_blocking(choice: &AdapterChoice) -> Result<Gpu> {
        pollster::block_on(Gpu::new(choice))
    }

    pub fn to_vec_f32(&self, t: &Tensor) -> Result<Vec<f32>> {
        pollster::block_on(self.read_f32(t))
    }

    pub fn to_vec_u32(&self, t: &Tensor) -> Result<Vec<u32>> {
        pollster::block_on(self.read_u32(t))
    }
}
