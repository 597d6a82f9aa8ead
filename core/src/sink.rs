//! Allocation-free output buffers.
//!
//! Lift and lower write into a [`Sink`] supplied by the caller, so that the
//! hot paths never allocate: a [`FixedBuf`] on the stack, a [`SliceSink`]
//! over the caller's array, or (feature `alloc`) a `Vec`.

/// The sink is full; nothing was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

/// Something that accepts items one at a time.
pub trait Sink<T> {
    /// Append `item`, or report [`Full`].
    fn push(&mut self, item: T) -> Result<(), Full>;
}

#[cfg(feature = "alloc")]
impl<T> Sink<T> for alloc::vec::Vec<T> {
    fn push(&mut self, item: T) -> Result<(), Full> {
        alloc::vec::Vec::push(self, item);
        Ok(())
    }
}

impl<T, S: Sink<T> + ?Sized> Sink<T> for &mut S {
    fn push(&mut self, item: T) -> Result<(), Full> {
        (**self).push(item)
    }
}

/// A fixed-capacity buffer of `N` items on the stack.
#[derive(Debug, Clone, Copy)]
pub struct FixedBuf<T: Copy, const N: usize> {
    items: [Option<T>; N],
    len: usize,
}

impl<T: Copy, const N: usize> Default for FixedBuf<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Copy, const N: usize> FixedBuf<T, N> {
    /// An empty buffer.
    pub const fn new() -> Self {
        FixedBuf {
            items: [None; N],
            len: 0,
        }
    }
    /// Number of items held.
    pub const fn len(&self) -> usize {
        self.len
    }
    /// True when nothing is held.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Forget every item.
    pub fn clear(&mut self) {
        self.len = 0;
    }
    /// Item `i`, if held.
    pub fn get(&self, i: usize) -> Option<&T> {
        if i < self.len {
            self.items[i].as_ref()
        } else {
            None
        }
    }
    /// The held items, in order.
    pub fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        self.items[..self.len].iter().filter_map(Option::as_ref)
    }
}

impl<T: Copy, const N: usize> Sink<T> for FixedBuf<T, N> {
    fn push(&mut self, item: T) -> Result<(), Full> {
        if self.len == N {
            return Err(Full);
        }
        self.items[self.len] = Some(item);
        self.len += 1;
        Ok(())
    }
}

/// A sink over a caller-supplied slice.
#[derive(Debug)]
pub struct SliceSink<'a, T> {
    buf: &'a mut [T],
    len: usize,
}

impl<'a, T> SliceSink<'a, T> {
    /// Write into `buf` from its start.
    pub fn new(buf: &'a mut [T]) -> Self {
        SliceSink { buf, len: 0 }
    }
    /// The items written.
    pub fn written(&self) -> &[T] {
        &self.buf[..self.len]
    }
}

impl<T> Sink<T> for SliceSink<'_, T> {
    fn push(&mut self, item: T) -> Result<(), Full> {
        match self.buf.get_mut(self.len) {
            Some(slot) => {
                *slot = item;
                self.len += 1;
                Ok(())
            }
            None => Err(Full),
        }
    }
}

/// A sink that only counts (for dry runs: how many commands would a lowering emit).
#[derive(Debug, Default, Clone, Copy)]
pub struct CountSink(pub usize);

impl<T> Sink<T> for CountSink {
    fn push(&mut self, _item: T) -> Result<(), Full> {
        self.0 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_buf_fills_then_refuses() {
        let mut b: FixedBuf<u8, 2> = FixedBuf::new();
        assert_eq!(b.push(1), Ok(()));
        assert_eq!(b.push(2), Ok(()));
        assert_eq!(b.push(3), Err(Full));
        assert_eq!(b.iter().copied().collect::<alloc::vec::Vec<_>>(), [1, 2]);
    }

    #[test]
    fn slice_sink_stops_at_end() {
        let mut arr = [0u32; 1];
        let mut s = SliceSink::new(&mut arr);
        assert!(s.push(9).is_ok());
        assert_eq!(s.push(10), Err(Full));
        assert_eq!(s.written(), &[9]);
    }
}
