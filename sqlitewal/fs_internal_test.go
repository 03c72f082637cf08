package sqlitewal

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOpenRefusesNetworkFilesystems(t *testing.T) {
	real := statfsType
	t.Cleanup(func() { statfsType = real })
	for _, tc := range []struct {
		magic int64
		name  string
	}{{0x6969, "NFS"}, {0xff534d42, "CIFS"}, {0x01021997, "9p"}, {0x65735546, "FUSE"}} {
		t.Run(tc.name, func(t *testing.T) {
			statfsType = func(string) (int64, error) { return tc.magic, nil }
			root := t.TempDir()
			path := filepath.Join(root, "sub", "q.db")
			_, err := Open(context.Background(), path, Options{})
			if !errors.Is(err, ErrNetworkFS) || !strings.Contains(err.Error(), tc.name) || !strings.Contains(err.Error(), "shared memory") {
				t.Fatalf("err = %v; want ErrNetworkFS naming %s and saying why", err, tc.name)
			}
			if entries, _ := os.ReadDir(root); len(entries) != 0 {
				t.Errorf("created %s", entries[0].Name())
			}
			db, err := Open(context.Background(), path, Options{AllowNetworkFS: true})
			if err != nil {
				t.Fatalf("with AllowNetworkFS: %v", err)
			}
			db.Close()
		})
	}
}
