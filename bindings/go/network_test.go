package spell

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// fetchSpell builds guest/examples/fetch.c with clang-14 and loads it with a grant of origin
// (loopback allowed explicitly).
func fetchSpell(t *testing.T, origin string) *Spell {
	t.Helper()
	clang, err := exec.LookPath("clang-14")
	if err != nil {
		t.Fatal("clang-14 not found: run scripts/install-deps.sh")
	}
	wasm := filepath.Join(t.TempDir(), "fetch.wasm")
	build := exec.Command(clang, "--target=wasm32-wasi", "-O2", "-Wl,--strip-all", "-I", "../../guest/include",
		"-o", wasm, "../../guest/examples/fetch.c")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("clang-14: %v\n%s", err, out)
	}
	module, err := os.ReadFile(wasm)
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := json.Marshal(map[string]any{"name": "fetch", "version": "1.0.0", "license": "MIT",
		"capabilities": map[string]any{"network": []string{origin}}})
	if err != nil {
		t.Fatal(err)
	}
	pkg, err := Pack(manifest, module)
	if err != nil {
		t.Fatal(err)
	}
	policy := fmt.Sprintf("allow_unsigned = true\n[capabilities]\nnetwork = [%q]\n[network]\nallow_addresses = [\"127.0.0.1/32\"]\n", origin)
	return load(t, shared, pkg, func() (*Policy, error) { return PolicyFromTOML(policy) })
}

func TestOutboundHTTPIsCountedAndCapped(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 5000)
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write(body)
	}))
	defer server.Close()
	s := fetchSpell(t, server.URL)

	o := mustCast(t, s, &Request{Args: []string{server.URL + "/data"}})
	if o.Kind != OutcomeOK || !bytes.Contains(o.Stdout, []byte("< rc=0 status=200 ")) || !bytes.HasSuffix(o.Stdout, append(body, '\n')) {
		t.Fatalf("%v %q", o.Kind, o.Stderr)
	}
	if u := o.Usage; u.NetRequests != 1 || u.NetBytesIn <= uint64(len(body)) || u.NetBytesOut == 0 {
		t.Fatalf("usage %+v", u)
	}

	capped := mustCast(t, s, &Request{Args: []string{server.URL + "/data"}, Limits: Limits{NetBytes: 1000}})
	if capped.Kind != OutcomeNetworkLimit || capped.Usage.NetBytesIn+capped.Usage.NetBytesOut > 1000 {
		t.Fatalf("%v %q usage %+v", capped.Kind, capped.Detail, capped.Usage)
	}

	refused := mustCast(t, s, &Request{Args: []string{"http://127.0.0.2:9/"}})
	if refused.Kind != OutcomeExit || refused.Usage.NetRequests != 0 {
		t.Fatalf("%v usage %+v", refused.Kind, refused.Usage)
	}
}
