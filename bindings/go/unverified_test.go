package spell

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// helloModule is the bare module inside the bundled example's package.
func helloModule(t *testing.T) []byte {
	t.Helper()
	r := tar.NewReader(bytes.NewReader(helloPackage(t)))
	for {
		h, err := r.Next()
		if err != nil {
			t.Fatalf("no module.wasm: %v", err)
		}
		if h.Name == "module.wasm" {
			wasm, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			return wasm
		}
	}
}

func TestABareModuleGetsWhatItAsksWithinThePolicy(t *testing.T) {
	wasm := helloModule(t)
	s, err := shared.LoadUnverified(wasm, ModuleAsk{
		Name:         "hi",
		Capabilities: map[string]any{"env": []string{"GREETING"}},
		Limits:       map[string]uint64{"fuel": 50_000_000},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	grant, err := s.Grant()
	if err != nil || s.Name() != "hi" || s.Entrypoint() != "_start" || grant["limits"].(map[string]any)["fuel"] != 50_000_000.0 {
		t.Fatalf("%v %q %q %v", err, s.Name(), s.Entrypoint(), grant)
	}
	o := mustCast(t, s, &Request{Args: []string{"world"}, Stdin: []byte("more")})
	if o.Kind != OutcomeOK || string(o.Stdout) != "Hello, world!\nmore" {
		t.Fatalf("%v %q", o.Kind, o.Stdout)
	}

	policy, err := PolicyFromTOML("allow_unsigned = true\n[limits.default]\nfuel = 1000\n[limits.max]\nfuel = 1000\n")
	if err != nil {
		t.Fatal(err)
	}
	defer policy.Close()
	bounded, err := shared.LoadUnverified(wasm, ModuleAsk{Limits: map[string]uint64{"fuel": 1000}}, policy)
	if err != nil {
		t.Fatal(err)
	}
	defer bounded.Close()
	if o := mustCast(t, bounded, nil); o.Kind != OutcomeOutOfFuel {
		t.Fatalf("%v", o.Kind)
	}
	_, err = shared.LoadUnverified(wasm, ModuleAsk{Capabilities: map[string]any{"env": []string{"GREETING"}}}, policy)
	if !errors.Is(err, CodeCapabilityDenied) || !strings.Contains(err.Error(), "GREETING") {
		t.Fatalf("%v", err)
	}
}

func TestABareModuleWithAnUnknownFieldOrBadBytesIsRefused(t *testing.T) {
	_, err := shared.LoadUnverified(helloModule(t), ModuleAsk{Limits: map[string]uint64{"fule": 1}}, nil)
	if !errors.Is(err, CodeManifestParse) || !strings.Contains(err.Error(), "fule") {
		t.Fatalf("%v", err)
	}
	if _, err := shared.LoadUnverified([]byte("\x00asm\x01\x00\x00\x00junk"), ModuleAsk{}, nil); !errors.Is(err, CodeModuleInvalid) {
		t.Fatalf("%v", err)
	}
}
