package spell

import (
	"errors"
	"slices"
	"testing"
)

func TestInspectReadsWhatThePackageSays(t *testing.T) {
	info, err := Inspect(helloPackage(t))
	if err != nil {
		t.Fatal(err)
	}
	if !info.Signed || !info.HasSBOM || info.Manifest["name"] != "hello" || len(info.Digest) != 64 {
		t.Fatalf("inspect: %+v", info)
	}
	if !slices.Contains(info.Imports, "wasi_snapshot_preview1::fd_write") || !slices.Contains(info.Exports, "_start") {
		t.Fatalf("imports %v, exports %v", info.Imports, info.Exports)
	}
	var e *Error
	if _, err := Inspect([]byte("not a package")); !errors.As(err, &e) || e.Code() != CodePackageMalformed {
		t.Fatalf("junk: %v", err)
	}
}

func TestVerifyReportsSignerSBOMAndGrantWithoutCompiling(t *testing.T) {
	rt, err := NewRuntime(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	policy, err := PolicyFromFile("../../examples/policy.toml")
	if err != nil {
		t.Fatal(err)
	}
	defer policy.Close()
	v, err := rt.Verify(helloPackage(t), policy)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := Inspect(helloPackage(t))
	if v.Name != "hello" || v.Version != "0.1.0" || v.Digest != info.Digest {
		t.Fatalf("verified: %+v", v)
	}
	if v.Verification.Signer == nil || v.Verification.Signer.Rule != "spell-examples" {
		t.Fatalf("signer: %+v", v.Verification.Signer)
	}
	if v.Verification.SBOM == nil || v.Verification.SBOM.Components < 1 {
		t.Fatalf("sbom: %+v", v.Verification.SBOM)
	}
	if env, _ := v.Grant["env"].([]any); len(env) != 1 || env[0] != "HELLO_NAME" {
		t.Fatalf("grant: %v", v.Grant)
	}
	if rt.Stats().Compiled != 0 {
		t.Fatal("verify compiled the module")
	}
	denyAll, err := PolicyFromTOML("")
	if err != nil {
		t.Fatal(err)
	}
	defer denyAll.Close()
	var e *Error
	if _, err := rt.Verify(helloPackage(t), denyAll); !errors.As(err, &e) || e.Code() != CodeSignerNotTrusted {
		t.Fatalf("deny-all: %v", err)
	}
}
