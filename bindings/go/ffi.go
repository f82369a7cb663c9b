package spell

/*
#cgo CFLAGS: -I${SRCDIR} -I${SRCDIR}/../c/include
#cgo LDFLAGS: -L${SRCDIR}/lib -lspell -lm -ldl -lpthread -lrt
#include "libspell_stamp.h" // written by build.sh with the library's digest
#include "spell_go.h"
*/
import "C"

import (
	"runtime/cgo"
	"sync"
	"unsafe"
)

// cHandle owns one C handle. Methods use it under the read lock, so Close (the write lock)
// waits for calls in flight (a running cast, say) and frees it exactly once; a closed handle
// answers CodeInvalidArgument instead of crashing.
type cHandle[P comparable] struct {
	mu   sync.RWMutex
	ptr  P // the zero value once closed
	free func(P)
	what string
}

func (h *cHandle[P]) use(f func(P) error) error {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var closed P
	if h.ptr == closed {
		return &Error{code: CodeInvalidArgument, msg: "the " + h.what + " is closed"}
	}
	return f(h.ptr)
}

func (h *cHandle[P]) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	var closed P
	if h.ptr != closed {
		h.free(h.ptr)
		h.ptr = closed
	}
}

// newHandle wraps a Go value for Spell to hold: the C side only ever sees the integer.
func newHandle(v any) C.uintptr_t {
	return C.uintptr_t(cgo.NewHandle(v))
}

// handleValue is the Go value behind a callback's env.
func handleValue[T any](env unsafe.Pointer) T {
	return cgo.Handle(uintptr(env)).Value().(T)
}

// cStr passes a Go string to C without copying; Spell copies what it keeps before returning.
func cStr(s string) (*C.char, C.size_t) {
	return (*C.char)(unsafe.Pointer(unsafe.StringData(s))), C.size_t(len(s))
}

// cBytes passes Go bytes to C without copying; Spell copies what it keeps before returning.
func cBytes(b []byte) (*C.uint8_t, C.size_t) {
	return (*C.uint8_t)(unsafe.SliceData(b)), C.size_t(len(b))
}

// goString copies a view Spell wrote.
func goString(s C.spell_str_t) string {
	return string(unsafe.Slice((*byte)(unsafe.Pointer(s.data)), s.len))
}

// goBytes copies bytes Spell wrote.
func goBytes(data *C.uint8_t, n C.size_t) []byte {
	return append([]byte{}, unsafe.Slice((*byte)(data), n)...)
}
