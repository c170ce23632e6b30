//! A small safe wrapper over libjpeg-turbo's TurboJPEG API (`turbojpeg-sys`,
//! linked to the system library found by pkg-config): header read and
//! DCT-domain scaled decompression to RGB.
//!
//! Why raw bindings: the safe `turbojpeg` crate's current releases need
//! libjpeg-turbo ≥ 3.0, while Debian 12 ships 2.1; the 2.x API used here
//! (`tjDecompressHeader3`, `tjDecompress2`, `tjGetScalingFactors`) is stable.

use std::ffi::{c_int, c_ulong, CStr};
use turbojpeg_sys as sys;

/// Header facts of a JPEG.
#[derive(Debug, Clone, Copy)]
pub struct Header {
    pub width: u32,
    pub height: u32,
    /// CMYK or YCCK: TurboJPEG cannot convert these to RGB.
    pub cmyk: bool,
}

/// One decompressor handle (not shareable between threads; keep one per thread).
pub struct Decompressor {
    handle: sys::tjhandle,
}

impl Decompressor {
    pub fn new() -> Result<Self, String> {
        // SAFETY: plain constructor; a null handle is checked below.
        let handle = unsafe { sys::tjInitDecompress() };
        if handle.is_null() {
            return Err("libjpeg-turbo could not create a decompressor".into());
        }
        Ok(Self { handle })
    }

    fn error(&self) -> String {
        // SAFETY: the handle is valid; TurboJPEG returns a pointer to a
        // NUL-terminated string owned by the handle, valid until the next call.
        unsafe {
            let p = sys::tjGetErrorStr2(self.handle);
            if p.is_null() {
                "unknown libjpeg-turbo error".into()
            } else {
                CStr::from_ptr(p).to_string_lossy().into_owned()
            }
        }
    }

    pub fn header(&mut self, jpeg: &[u8]) -> Result<Header, String> {
        let (mut w, mut h, mut sub, mut cs) = (0 as c_int, 0 as c_int, 0 as c_int, 0 as c_int);
        // SAFETY: `jpeg` is a valid slice of the given length; the out-pointers
        // point to live locals.
        let rc = unsafe {
            sys::tjDecompressHeader3(
                self.handle,
                jpeg.as_ptr(),
                jpeg.len() as c_ulong,
                &mut w,
                &mut h,
                &mut sub,
                &mut cs,
            )
        };
        if rc != 0 {
            return Err(self.error());
        }
        if w <= 0 || h <= 0 {
            return Err(format!("JPEG header gives {w}×{h} pixels"));
        }
        let cmyk = cs as u32 == sys::TJCS_TJCS_CMYK || cs as u32 == sys::TJCS_TJCS_YCCK;
        Ok(Header {
            width: w as u32,
            height: h as u32,
            cmyk,
        })
    }

    /// Decompress to RGB at the smallest supported DCT scale whose shorter
    /// side is still ≥ `min_short`. Returns (width, height, pixels).
    pub fn decode_scaled(
        &mut self,
        jpeg: &[u8],
        header: Header,
        min_short: u32,
    ) -> Result<(u32, u32, Vec<u8>), String> {
        let short = header.width.min(header.height) as u64;
        let (mut num, mut den) = (1u64, 1u64);
        let mut n: c_int = 0;
        // SAFETY: returns a pointer to a static table of `n` entries (or null).
        let table = unsafe { sys::tjGetScalingFactors(&mut n) };
        if !table.is_null() && n > 0 {
            // SAFETY: the table has `n` valid entries for the process's lifetime.
            let factors = unsafe { std::slice::from_raw_parts(table, n as usize) };
            for f in factors {
                let (fnum, fden) = (f.num as u64, f.denom as u64);
                if fnum == 0 || fden == 0 || fnum > fden {
                    continue;
                }
                let scaled = (short * fnum).div_ceil(fden);
                if scaled >= u64::from(min_short) && fnum * den < num * fden {
                    (num, den) = (fnum, fden);
                }
            }
        }
        let sw = (u64::from(header.width) * num).div_ceil(den) as usize;
        let sh = (u64::from(header.height) * num).div_ceil(den) as usize;
        let mut out = vec![0u8; sw * sh * 3];
        // Why FASTDCT only when scaling: with few coefficients the fast IDCT
        // error is invisible after the resize, and it is what Pillow's draft
        // mode does too.
        let flags = if num < den { sys::TJFLAG_FASTDCT } else { 0 };
        // SAFETY: `out` holds exactly sw*sh*3 bytes for an RGB image of the
        // requested size with pitch sw*3; TurboJPEG writes no more than that.
        let rc = unsafe {
            sys::tjDecompress2(
                self.handle,
                jpeg.as_ptr(),
                jpeg.len() as c_ulong,
                out.as_mut_ptr(),
                sw as c_int,
                (sw * 3) as c_int,
                sh as c_int,
                sys::TJPF_TJPF_RGB,
                flags as c_int,
            )
        };
        if rc != 0 {
            // Warnings (e.g. a truncated file) also fail: the pixels may be garbage.
            return Err(self.error());
        }
        Ok((sw as u32, sh as u32, out))
    }
}

impl Drop for Decompressor {
    fn drop(&mut self) {
        // SAFETY: the handle came from tjInitDecompress and is destroyed once.
        unsafe {
            sys::tjDestroy(self.handle);
        }
    }
}
