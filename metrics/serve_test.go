package metrics_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/metrics"
)

// serve runs ServeListener on a loopback port until the test ends.
func serve(t *testing.T, opts metrics.ServeOpts) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- metrics.ServeListener(ctx, ln, metrics.New(nil, metrics.NewOpts{}).Handler(nil, nil), opts)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// closedByServer waits, up to a generous deadline, for the server to close c.
func closedByServer(t *testing.T, c net.Conn, r *bufio.Reader) bool {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := r.ReadByte()
	var ne net.Error
	return errors.Is(err, io.EOF) || !(errors.As(err, &ne) && ne.Timeout()) && err != nil
}

func TestServeClosesIdleAndSlowConnections(t *testing.T) {
	addr := serve(t, metrics.ServeOpts{ReadHeaderTimeout: 50 * time.Millisecond, IdleTimeout: 50 * time.Millisecond})
	t.Run("idle keep-alive", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		r := bufio.NewReader(c)
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if !closedByServer(t, c, r) {
			t.Error("an idle keep-alive connection stayed open")
		}
	})
	t.Run("headers never finished", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
		if !closedByServer(t, c, bufio.NewReader(c)) {
			t.Error("a connection that never finished its headers stayed open")
		}
	})
}

func TestServeCapsHeaderSize(t *testing.T) {
	addr := serve(t, metrics.ServeOpts{}) // the defaults
	req, _ := http.NewRequest("GET", "http://"+addr+"/healthz", nil)
	req.Header.Set("X-Padding", strings.Repeat("x", 64<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("64 KiB of headers: status %d; want 431", resp.StatusCode)
	}
}

func TestHealthzKeepsTheErrorInTheLog(t *testing.T) {
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	h := metrics.New(nil, metrics.NewOpts{}).Handler(func(context.Context) error {
		return errors.New("open database /srv/secret/q.db: disk I/O error")
	}, log)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Body.String() != "unhealthy\n" {
		t.Errorf("healthz = %d %q; want 503 and a generic body", rec.Code, rec.Body.String())
	}
	if !strings.Contains(logged.String(), "/srv/secret/q.db") {
		t.Errorf("log %q does not hold the detail", logged.String())
	}
}
