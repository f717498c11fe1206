use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

struct Counting;
static LIVE: AtomicI64 = AtomicI64::new(0);
static N: AtomicU64 = AtomicU64::new(0);
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as i64, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as i64, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
}
#[global_allocator]
static A: Counting = Counting;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    run(service_fn(|event: LambdaEvent<Value>| async move {
        let n = N.fetch_add(1, Ordering::Relaxed);
        if n % 1000 == 0 {
            eprintln!(
                "invocations {n} live bytes {}",
                LIVE.load(Ordering::Relaxed)
            );
        }
        Ok::<_, Error>(event.payload)
    }))
    .await
}
