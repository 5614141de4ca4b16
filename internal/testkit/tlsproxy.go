package testkit

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TLSProxy terminates TLS on a free port and pipes each connection to a
// plain TCP backend (nginx-rtmp): an rtmps:// ingest for tests. Its
// certificate is for 127.0.0.1 and localhost, signed by a CA made for the
// test; CAFile holds that CA in PEM, for SSL_CERT_FILE.
type TLSProxy struct {
	Port   int
	CAFile string

	backend    string
	ln         net.Listener
	handshakes atomic.Int64
	sni        []string // server names clients asked for
	wg         sync.WaitGroup
	mu         sync.Mutex
	conns      map[net.Conn]struct{}
}

// StartTLSProxy listens with TLS on 127.0.0.1 and forwards to backend
// (host:port). It is closed, with every connection it carries, when the
// test ends.
func StartTLSProxy(t testing.TB, backend string) *TLSProxy {
	t.Helper()
	dir := t.TempDir()
	caPEM, cert, err := newTestCerts()
	if err != nil {
		t.Fatalf("test certificates: %v", err)
	}
	p := &TLSProxy{CAFile: filepath.Join(dir, "ca.pem"), backend: backend, conns: map[net.Conn]struct{}{}}
	if err := os.WriteFile(p.CAFile, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	p.ln, err = tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	p.Port = p.ln.Addr().(*net.TCPAddr).Port
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Addr is the proxy's host:port.
func (p *TLSProxy) Addr() string { return "127.0.0.1:" + strconv.Itoa(p.Port) }

// URL is an rtmps:// publish URL for stream key on the backend's live app.
func (p *TLSProxy) URL(key string) string { return "rtmps://" + p.Addr() + "/live/" + key }

// ServerNames are the SNI names of the completed handshakes, in order.
func (p *TLSProxy) ServerNames() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.sni...)
}

// Pool is a certificate pool holding the proxy's test CA.
func (p *TLSProxy) Pool(t testing.TB) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(p.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return pool
}

// Handshakes is how many TLS handshakes have completed.
func (p *TLSProxy) Handshakes() int { return int(p.handshakes.Load()) }

// Close stops listening, drops every connection and waits for its goroutines.
func (p *TLSProxy) Close() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *TLSProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			c.Close()
			return
		}
		p.wg.Add(1)
		go p.serve(c.(*tls.Conn))
	}
}

// track registers c for Close; false once the proxy is closed.
func (p *TLSProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *TLSProxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
}

func (p *TLSProxy) serve(c *tls.Conn) {
	defer p.wg.Done()
	defer p.untrack(c)
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := c.Handshake(); err != nil {
		return
	}
	c.SetDeadline(time.Time{})
	p.handshakes.Add(1)
	p.mu.Lock()
	p.sni = append(p.sni, c.ConnectionState().ServerName)
	p.mu.Unlock()
	b, err := net.DialTimeout("tcp", p.backend, 5*time.Second)
	if err != nil {
		return
	}
	if !p.track(b) {
		b.Close()
		return
	}
	defer p.untrack(b)
	defer b.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(b, c)
	go pipe(c, b)
	<-done // either side ended: close both, which ends the other copy
	c.Close()
	b.Close()
	<-done
}

// newTestCerts makes a CA and a server certificate for 127.0.0.1, ::1 and
// localhost signed by it, valid for one day.
func newTestCerts() (caPEM []byte, server tls.Certificate, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, server, err
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "roomcast test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, server, err
	}
	if ca, err = x509.ParseCertificate(caDER); err != nil {
		return nil, server, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, server, err
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, server, err
	}
	server = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	if server.Leaf, err = x509.ParseCertificate(der); err != nil {
		return nil, server, err
	}
	caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	if caPEM == nil {
		return nil, server, errors.New("encode CA PEM")
	}
	return caPEM, server, nil
}
