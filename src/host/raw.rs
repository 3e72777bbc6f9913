//! The one host call the SDK does not expose as we need it: a header map as
//! the host serialized it, without the SDK's copy of every name and value
//! into its own `String` and `Vec` (measured: that copy made the map read
//! the most expensive step of a request).
//!
//! `bench/empty-filter` includes this file too (`#[path]`), so its probes read
//! maps exactly as the filter does.

use proxy_wasm::types::{MapType, Status};

extern "C" {
    fn proxy_get_header_map_pairs(
        map_type: MapType,
        return_map_data: *mut *mut u8,
        return_map_size: *mut usize,
    ) -> Status;
}

/// The serialized header map, owned; `None` if the host refused.
pub fn header_map(map_type: MapType) -> Option<Vec<u8>> {
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut size: usize = 0;
    // SAFETY: the host writes a pointer to a buffer it allocated in this
    // VM through `proxy_on_memory_allocate` (the SDK's allocator, the
    // global one) and its size; we take ownership of it exactly as the
    // SDK's own `get_map_bytes` does.
    unsafe {
        match proxy_get_header_map_pairs(map_type, &mut data, &mut size) {
            Status::Ok if data.is_null() => Some(Vec::new()),
            Status::Ok => Some(Vec::from_raw_parts(data, size, size)),
            _ => None,
        }
    }
}
