//! Host functions written in JS.
//!
//! The guest calls into the host on a cast thread; the JS function runs on the JS thread with the
//! arguments and a [`HostCall`], and may return a value, an array of values, or a promise of
//! either. While the cast thread waits for that answer it also serves `HostCall.read` and
//! `write`: the JS thread sends the request and waits for the copy, which the cast thread (the
//! only one allowed to touch the guest's memory) makes at once. Once the function has answered,
//! its `HostCall` refuses further use. A throw, a rejection or results that do not match the
//! signature end the cast as a `trap` of kind `host_error` with the message.

use crate::convert::from_js;
use crate::errors::Failure;
use crate::js_call::{JsFunction, SHUTTING_DOWN, call, threadsafe, wait};
use crate::outcome::{WasmValue, to_js_value};
use napi::bindgen_prelude::{BigInt, Buffer, FnArgs, Function, Uint8Array, Unknown};
use napi::{Env, JsValue, ValueType};
use napi_derive::napi;
use spell_runtime::{HostError, HostFunction, Val, ValType};
use std::sync::mpsc::{self, Sender, SyncSender};

/// A WebAssembly value type in a host function signature.
#[napi(string_enum = "lowercase", js_name = "ValType")]
#[derive(Clone, Copy)]
pub enum JsValType {
    /// 32-bit integer (a JS number).
    I32,
    /// 64-bit integer (a JS bigint).
    I64,
    /// 32-bit float (a JS number).
    F32,
    /// 64-bit float (a JS number).
    F64,
}

impl From<JsValType> for ValType {
    fn from(t: JsValType) -> Self {
        match t {
            JsValType::I32 => ValType::I32,
            JsValType::I64 => ValType::I64,
            JsValType::F32 => ValType::F32,
            JsValType::F64 => ValType::F64,
        }
    }
}

type HostFn<'env> = Function<'env, FnArgs<(Vec<WasmValue>, HostCall)>, Unknown<'static>>;

/// A function the host offers to spells as `module::name`; policies grant it by that name.
#[napi(object, object_to_js = false, js_name = "HostFunction")]
pub struct HostFunctionSpec<'env> {
    /// The import module, e.g. `kv`.
    pub module: String,
    /// The import name, e.g. `get`.
    pub name: String,
    /// Parameter types (default none).
    pub params: Option<Vec<JsValType>>,
    /// Result types (default none).
    pub results: Option<Vec<JsValType>>,
    /// Called with the guest's arguments; returns the results (one value, an array, or a
    /// promise of either). Runs on the JS thread while the cast waits.
    #[napi(
        ts_type = "(args: Array<number | bigint>, call: HostCall) => HostResult | Promise<HostResult>"
    )]
    pub func: HostFn<'env>,
}

/// The guest's side of one host function call: its memory, for as long as the call lasts.
#[napi]
pub struct HostCall {
    requests: Sender<Request>,
    cast_id: String,
}

enum Request {
    Read {
        ptr: u32,
        len: u32,
        reply: SyncSender<Result<Vec<u8>, HostError>>,
    },
    Write {
        ptr: u32,
        bytes: Vec<u8>,
        reply: SyncSender<Result<(), HostError>>,
    },
    Done(Result<Vec<Val>, String>),
}

#[napi]
impl HostCall {
    /// The id of the cast this call belongs to.
    #[napi(getter)]
    pub fn cast_id(&self) -> String {
        self.cast_id.clone()
    }

    /// Copies `len` bytes of guest memory starting at `ptr`.
    #[napi]
    pub fn read(&self, env: Env, ptr: u32, len: u32) -> napi::Result<Buffer> {
        self.ask(|reply| Request::Read { ptr, len, reply })
            .map(Buffer::from)
            .map_err(|f| f.throw(&env))
    }

    /// Reads a UTF-8 string from guest memory, refusing invalid UTF-8.
    #[napi]
    pub fn read_string(&self, env: Env, ptr: u32, len: u32) -> napi::Result<String> {
        let bytes = self
            .ask(|reply| Request::Read { ptr, len, reply })
            .map_err(|f| f.throw(&env))?;
        String::from_utf8(bytes)
            .map_err(|_| Failure::invalid("guest string is not UTF-8").throw(&env))
    }

    /// Writes `bytes` into guest memory at `ptr`.
    #[napi]
    pub fn write(&self, env: Env, ptr: u32, bytes: Uint8Array) -> napi::Result<()> {
        self.ask(|reply| Request::Write {
            ptr,
            bytes: bytes.to_vec(),
            reply,
        })
        .map_err(|f| f.throw(&env))
    }
}

impl HostCall {
    /// Sends a memory request to the waiting cast thread and blocks for its answer (a copy).
    fn ask<T>(
        &self,
        request: impl FnOnce(SyncSender<Result<T, HostError>>) -> Request,
    ) -> Result<T, Failure> {
        let (reply, answer) = mpsc::sync_channel(1);
        let over = || {
            Failure::invalid("this HostCall is over: use it only until the host function answers")
        };
        self.requests.send(request(reply)).map_err(|_| over())?;
        answer
            .recv()
            .map_err(|_| over())?
            .map_err(|e| Failure::invalid(e.message))
    }
}

impl HostFunctionSpec<'_> {
    /// The Rust host function that calls this JS function (on the JS thread).
    pub(crate) fn into_host_function(self) -> napi::Result<HostFunction> {
        let params: Vec<ValType> = self
            .params
            .unwrap_or_default()
            .into_iter()
            .map(Into::into)
            .collect();
        let results: Vec<ValType> = self
            .results
            .unwrap_or_default()
            .into_iter()
            .map(Into::into)
            .collect();
        let f = threadsafe(&self.func)?;
        let signature = results.clone();
        Ok(HostFunction::new(
            self.module,
            self.name,
            params,
            results,
            move |call_site, args| {
                let (tx, rx) = mpsc::channel();
                let host_call = HostCall {
                    requests: tx.clone(),
                    cast_id: call_site.cast_id().to_string(),
                };
                let types = signature.clone();
                let js_args =
                    FnArgs::from((args.iter().map(to_js_value).collect::<Vec<_>>(), host_call));
                let queued = call(
                    &f,
                    js_args,
                    move |_, v| read_results(&types, v),
                    move |r| {
                        let _ = tx.send(Request::Done(r));
                    },
                );
                if !queued {
                    return Err(HostError::new(SHUTTING_DOWN));
                }
                serve(&f, &rx, call_site)
            },
        ))
    }
}

/// Serves memory requests until the JS function answers.
fn serve(
    f: &JsFunction<FnArgs<(Vec<WasmValue>, HostCall)>>,
    rx: &mpsc::Receiver<Request>,
    guest: &mut spell_runtime::HostCall<'_>,
) -> Result<Vec<Val>, HostError> {
    loop {
        match wait(f, rx) {
            Some(Request::Read { ptr, len, reply }) => {
                let _ = reply.send(guest.read(ptr, len));
            }
            Some(Request::Write { ptr, bytes, reply }) => {
                let _ = reply.send(guest.write(ptr, &bytes));
            }
            Some(Request::Done(answer)) => return answer.map_err(HostError::new),
            None => return Err(HostError::new(SHUTTING_DOWN)),
        }
    }
}

/// Reads a JS answer as values of `types`: nothing, one value, or an array of them.
fn read_results(types: &[ValType], answer: Unknown<'static>) -> napi::Result<Vec<Val>> {
    let fail = |m: String| napi::Error::from_reason(m);
    let values: Vec<Unknown<'static>> = match (types.len(), answer.is_array()?) {
        (0, _) => return Ok(Vec::new()),
        (_, true) => from_js(answer, "host function results").map_err(|f| fail(f.message))?,
        (1, false) => vec![answer],
        (n, false) => return Err(fail(format!("expected an array of {n} results"))),
    };
    if values.len() != types.len() {
        return Err(fail(format!(
            "returned {} values, the signature has {}",
            values.len(),
            types.len()
        )));
    }
    values
        .into_iter()
        .zip(types)
        .map(|(v, t)| read_value(v, *t).map_err(fail))
        .collect()
}

fn read_value(v: Unknown<'static>, t: ValType) -> Result<Val, String> {
    let ty = v.get_type().map_err(|e| e.reason)?;
    let number = || -> Result<f64, String> {
        match ty {
            ValueType::Number => from_js::<f64>(v, "result").map_err(|f| f.message),
            _ => Err(format!("a {t:?} result must be a number, got {ty:?}")),
        }
    };
    Ok(match t {
        ValType::I32 => {
            let n = number()?;
            if n.fract() != 0.0 || !(f64::from(i32::MIN)..=f64::from(u32::MAX)).contains(&n) {
                return Err(format!(
                    "an I32 result must be an integer in i32 or u32 range, got {n}"
                ));
            }
            // u32 values keep their bits, as WebAssembly does.
            Val::I32(n as i64 as i32)
        }
        ValType::I64 => match ty {
            ValueType::BigInt => {
                let (i, lossless) = from_js::<BigInt>(v, "result")
                    .map_err(|f| f.message)?
                    .get_i64();
                if !lossless {
                    return Err("an I64 result does not fit in 64 bits".into());
                }
                Val::I64(i)
            }
            _ => {
                let n = number()?;
                if n.fract() != 0.0 || n.abs() > 9_007_199_254_740_991.0 {
                    return Err(format!(
                        "an I64 result must be a bigint or a safe integer, got {n}"
                    ));
                }
                Val::I64(n as i64)
            }
        },
        ValType::F32 => Val::F32(number()? as f32),
        ValType::F64 => Val::F64(number()?),
    })
}
