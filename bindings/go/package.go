package spell

// #include "spell.h"
import "C"

import "unsafe"

// Pack builds an unsigned .spell package without SBOM from spell.json text and a module,
// filling in the manifest's module pin as `spell pack` does. module is WebAssembly binary or
// text (WAT), which makes test guests one string each.
func Pack(manifest []byte, module []byte) ([]byte, error) {
	mp, mn := cBytes(manifest)
	wp, wn := cBytes(module)
	var buf C.spell_buf_t
	if err := takeError(C.spell_package_pack((*C.char)(unsafe.Pointer(mp)), mn, wp, wn, &buf)); err != nil {
		return nil, err
	}
	defer C.spell_buf_delete(&buf)
	return goBytes(buf.data, buf.len), nil
}
