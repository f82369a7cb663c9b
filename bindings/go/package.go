package spell

// #include "spell.h"
import "C"

import (
	"encoding/json"
	"unsafe"
)

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

// PackageInfo is what a package says about itself (`spell inspect --json`), checked for form
// and pins only: trust it after Runtime.Verify or Runtime.Load.
type PackageInfo struct {
	Digest   string         `json:"digest"` // sha256 of spell.json, hex
	Manifest map[string]any `json:"manifest"`
	Signed   bool           `json:"signed"`
	HasSBOM  bool           `json:"has_sbom"`
	// Imports are `module::name` for a core module, interfaces and top-level items for a
	// component; Exports are named the same way.
	Imports []string `json:"imports"`
	Exports []string `json:"exports"`
}

// Inspect reads what a package says about itself; it fails with the package codes.
func Inspect(pkg []byte) (*PackageInfo, error) {
	data, n := cBytes(pkg)
	var buf C.spell_buf_t
	if err := takeError(C.spell_package_inspect(data, n, &buf)); err != nil {
		return nil, err
	}
	defer C.spell_buf_delete(&buf)
	info := &PackageInfo{}
	if err := json.Unmarshal(goBytes(buf.data, buf.len), info); err != nil {
		return nil, &Error{code: CodeInternal, msg: "package info: " + err.Error()}
	}
	return info, nil
}
