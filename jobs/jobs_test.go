package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/jobs"
)

func TestRegistry(t *testing.T) {
	r := jobs.NewRegistry()
	r.Register("send_mail", func(context.Context, json.RawMessage) ([]byte, error) { return nil, nil })
	if _, err := r.Lookup("send_mail"); err != nil {
		t.Fatal(err)
	}
	_, err := r.Lookup("send_mial")
	var unk *jobs.UnknownError
	if !errors.As(err, &unk) || !strings.Contains(err.Error(), `"send_mial"`) ||
		!strings.Contains(err.Error(), "echo_test, send_mail") {
		t.Fatalf("err = %v; want an UnknownError naming the job and the registered ones", err)
	}
}

func TestRegisterTwicePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	jobs.NewRegistry().Register("echo_test", jobs.Echo)
}

func TestPermanent(t *testing.T) {
	base := errors.New("bad payload")
	err := fmt.Errorf("run: %w", jobs.Permanent(base))
	if !jobs.IsPermanent(err) || !errors.Is(err, base) {
		t.Errorf("IsPermanent/Is failed for %v", err)
	}
	if jobs.IsPermanent(base) || jobs.Permanent(nil) != nil {
		t.Error("plain errors must not be permanent")
	}
}

func ExampleRegistry() {
	r := jobs.NewRegistry()
	r.Register("greet", func(_ context.Context, payload json.RawMessage) ([]byte, error) {
		return []byte(`"hello"`), nil
	})
	j, _ := r.Lookup("echo_test")
	out, _ := j.Func(context.Background(), []byte(`{"hello":"world"}`))
	fmt.Println(r.Names(), string(out))
	// Output: [echo_test greet] {"hello":"world"}
}
