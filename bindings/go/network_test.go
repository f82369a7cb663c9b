package spell

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// fetchSpell builds guest/examples/fetch.c with clang-14 and loads it on rt with a grant of
// origin (loopback allowed explicitly).
func fetchSpell(t *testing.T, rt *Runtime, origin string) *Spell {
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
	return load(t, rt, pkg, func() (*Policy, error) { return PolicyFromTOML(policy) })
}

func TestOutboundHTTPIsCountedAndCapped(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 5000)
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write(body)
	}))
	defer server.Close()
	s := fetchSpell(t, shared, server.URL)

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

// testCA makes a CA (returned as DER) and a certificate for 127.0.0.1 that it signed.
func testCA(t *testing.T) ([]byte, tls.Certificate) {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey, leafKey := key(), key()
	validity := func(c *x509.Certificate) *x509.Certificate {
		c.NotBefore, c.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
		return c
	}
	ca := validity(&x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Spell test CA"},
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign})
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	leaf := validity(&x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return caDER, tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: leafKey}
}

func TestHTTPSTrustsTheRuntimesPrivateCA(t *testing.T) {
	caDER, leaf := testCA(t)
	server := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("secure"))
	}))
	server.TLS = &tls.Config{Certificates: []tls.Certificate{leaf}}
	server.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake below is expected
	server.StartTLS()
	defer server.Close()

	rt, err := NewRuntime(&Options{TLSRootCertificates: [][]byte{caDER}})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	o := mustCast(t, fetchSpell(t, rt, server.URL), &Request{Args: []string{server.URL + "/"}})
	if o.Kind != OutcomeOK || !bytes.HasSuffix(o.Stdout, []byte("secure\n")) || o.Usage.NetBytesIn == 0 {
		t.Fatalf("%v %q %q", o.Kind, o.Stdout, o.Stderr)
	}

	// A runtime without that CA refuses the server's certificate.
	untrusted := mustCast(t, fetchSpell(t, shared, server.URL), &Request{Args: []string{server.URL + "/"}})
	if untrusted.Kind != OutcomeExit || !bytes.Contains(untrusted.Stdout, []byte("UnknownIssuer")) {
		t.Fatalf("%v %q", untrusted.Kind, untrusted.Stdout)
	}

	_, err = NewRuntime(&Options{TLSRootCertificates: [][]byte{[]byte("not a certificate")}})
	var e *Error
	if !errors.As(err, &e) || e.Code() != CodeRuntimeConfig {
		t.Fatalf("a garbage root: %v", err)
	}
}
