package queue

import (
	"testing"
	"time"
)

func TestKeep(t *testing.T) {
	tests := []struct {
		in   string
		want Keep
		err  bool
	}{
		{"7d", Keep{Age: 7 * 24 * time.Hour}, false},
		{"36h", Keep{Age: 36 * time.Hour}, false},
		{"10000", Keep{Count: 10000}, false},
		{"7d,100", Keep{Age: 7 * 24 * time.Hour, Count: 100}, false},
		{" 100 , 90m ", Keep{Age: 90 * time.Minute, Count: 100}, false},
		{"forever", Keep{}, false},
		{"0", Keep{}, true},
		{"-1h", Keep{}, true},
		{"7days", Keep{}, true},
		{"1,2", Keep{}, true},
		{"1h,2h", Keep{}, true},
		{"", Keep{}, true},
		{"1000000001", Keep{}, true},
		{"900000h", Keep{}, true},
	}
	for _, tt := range tests {
		got, err := ParseKeep(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseKeep(%q) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func FuzzParseKeep(f *testing.F) {
	for _, s := range []string{"7d", "36h", "100", "7d,100", "forever", "", "0", "1,2", "-5m", "9999999999d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseKeep(s)
		if err != nil {
			return
		}
		if k.Age < 0 || k.Count < 0 {
			t.Fatalf("ParseKeep(%q) = %+v: negative limit", s, k)
		}
		back, err := ParseKeep(k.String())
		if err != nil || back != k {
			t.Fatalf("round trip of %q: %+v -> %q -> %+v, %v", s, k, k.String(), back, err)
		}
	})
}
