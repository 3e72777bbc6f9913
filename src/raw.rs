//! The host calls the SDK does not expose as we need them: a header map as
//! the host serialized it, without the SDK's copy of every name and value
//! into its own `String` and `Vec` (measured: that copy made the map read
//! the most expensive step of a request); and a local reply serialized into
//! a buffer the VM keeps, without the SDK's `Vec` of headers and its copy
//! (and without its `panic!` on an unexpected status, which would trap the
//! VM).
//!
//! Public for `bench/empty-filter`, whose probes read maps and reply with
//! these very functions (and `header_map`), exactly as the filter does.

use proxy_wasm::types::{MapType, Status};

extern "C" {
    fn proxy_get_header_map_pairs(
        map_type: MapType,
        return_map_data: *mut *mut u8,
        return_map_size: *mut usize,
    ) -> Status;

    fn proxy_set_property(path_data: *const u8, path_size: usize, value_data: *const u8, value_size: usize) -> Status;

    fn proxy_send_local_response(
        status_code: u32,
        status_code_details_data: *const u8,
        status_code_details_size: usize,
        body_data: *const u8,
        body_size: usize,
        headers_data: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> Status;
}

thread_local! {
    /// The serialized headers of the last local reply, reused: a VM runs one
    /// callback at a time, and the host copies the headers before returning.
    static REPLY: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Sends a local reply with no body; true when the host took it.
pub fn send_local_response(status: u32, headers: &[(&str, &str)]) -> bool {
    REPLY.with(|buffer| {
        let Ok(mut buffer) = buffer.try_borrow_mut() else {
            return false;
        };
        crate::header_map::serialize_into(headers, &mut buffer);
        // SAFETY: the pointers and lengths describe `buffer`, alive and
        // unchanged for the whole call; no details and no body are passed
        // (null with length 0, as the SDK does); -1 means "not gRPC".
        let status = unsafe {
            proxy_send_local_response(
                status,
                std::ptr::null(),
                0,
                std::ptr::null(),
                0,
                buffer.as_ptr(),
                buffer.len(),
                -1,
            )
        };
        status == Status::Ok
    })
}

/// Sets a property whose path is one element (so its serialized form is the
/// element's bytes: the SDK joins elements with NUL), without the SDK's
/// `Vec` of path elements and its serialized copy. Envoy keeps it in the
/// stream's filter state under `wasm.<path>`. True when the host took it.
pub fn set_property(path: &str, value: &[u8]) -> bool {
    // SAFETY: both pointers and lengths describe live borrowed buffers for
    // the whole call, and the host copies them before returning.
    let status = unsafe { proxy_set_property(path.as_ptr(), path.len(), value.as_ptr(), value.len()) };
    status == Status::Ok
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
