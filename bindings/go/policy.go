package spell

// #include "spell.h"
import "C"

import "runtime"

// Policy is what a host trusts and grants (see examples/policy.toml): Runtime.Load checks
// every package against one. An empty policy is deny-all. Safe for concurrent use.
type Policy struct {
	h cHandle[*C.spell_policy_t]
}

// PolicyFromTOML parses a policy.
func PolicyFromTOML(toml string) (*Policy, error) {
	p, n := cStr(toml)
	return newPolicy(func(out **C.spell_policy_t) *C.spell_error_t { return C.spell_policy_from_toml(p, n, out) })
}

// PolicyFromFile reads a policy file; relative paths in it start at its folder.
func PolicyFromFile(path string) (*Policy, error) {
	p, n := cStr(path)
	return newPolicy(func(out **C.spell_policy_t) *C.spell_error_t { return C.spell_policy_from_file(p, n, out) })
}

// TrustingPolicy trusts pkg the way `wasmtime run` trusts a module (as `spell cast` without
// --policy does): unsigned allowed, exactly the capabilities and limits its manifest asks for.
// For development and packages the host vouches for, never for strangers' spells.
func TrustingPolicy(pkg []byte) (*Policy, error) {
	data, n := cBytes(pkg)
	return newPolicy(func(out **C.spell_policy_t) *C.spell_error_t { return C.spell_policy_trusting(data, n, out) })
}

func newPolicy(make func(**C.spell_policy_t) *C.spell_error_t) (*Policy, error) {
	var ptr *C.spell_policy_t
	if err := takeError(make(&ptr)); err != nil {
		return nil, err
	}
	p := &Policy{h: cHandle[*C.spell_policy_t]{ptr: ptr, free: func(p *C.spell_policy_t) { C.spell_policy_delete(p) }, what: "policy"}}
	runtime.SetFinalizer(p, (*Policy).Close)
	return p, nil
}

// Close frees the policy. Safe to call more than once.
func (p *Policy) Close() error {
	p.h.close()
	runtime.SetFinalizer(p, nil)
	return nil
}
