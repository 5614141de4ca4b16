package testkit

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"os"
	"testing"
)

// The proxy's certificate verifies against its CA file for 127.0.0.1 (as
// the worker dials rtmps://127.0.0.1:port) and bytes pass both ways.
func TestTLSProxyPipesToBackend(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	p := StartTLSProxy(t, echo.Addr().String())
	pem, err := os.ReadFile(p.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatal("CA file holds no certificate")
	}
	for _, name := range []string{"127.0.0.1", "localhost"} {
		c, err := tls.Dial("tcp", p.Addr(), &tls.Config{RootCAs: roots, ServerName: name})
		if err != nil {
			t.Fatalf("dial as %s: %v", name, err)
		}
		msg := []byte("hello " + name)
		c.Write(msg)
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != string(msg) {
			t.Errorf("echo through the proxy: %q, %v", got, err)
		}
		c.Close()
	}
	if _, err := tls.Dial("tcp", p.Addr(), &tls.Config{ServerName: "127.0.0.1"}); err == nil {
		t.Error("the proxy's certificate verified without its CA")
	}
	if n := p.Handshakes(); n != 2 {
		t.Errorf("handshakes = %d, want 2", n)
	}
}
