package sqlitewal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// ErrNetworkFS is returned for a database on a network or FUSE filesystem,
// where WAL mode's shared memory and locks do not work across machines and
// may silently corrupt the file.
var ErrNetworkFS = errors.New("database is on a network or FUSE filesystem")

// networkFS names the filesystems, by statfs f_type (linux/magic.h), on
// which SQLite's WAL mode is unsafe: its shared memory is a memory-mapped
// file that other machines (or the other side of a FUSE or 9p mount) do
// not see, and their byte-range locks are advisory or missing.
var networkFS = map[int64]string{
	0x6969:     "NFS",
	0x517b:     "SMB",
	0xff534d42: "CIFS",
	0xfe534d42: "SMB2",
	0x01021997: "9p",
	0x65735546: "FUSE",
	0x6a656a63: "virtiofs",
	0x5346414f: "AFS",
	0x00c36400: "CephFS",
	0x73757245: "Coda",
	0x564c:     "NCP",
	0x47504653: "GPFS",
	0x0bd00bd0: "Lustre",
}

// statfsType reads the filesystem type of path; tests replace it.
var statfsType = func(path string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, err
	}
	return int64(st.Type), nil
}

// checkLocalFS refuses a path whose nearest existing folder is on a network
// or FUSE filesystem. It creates nothing.
func checkLocalFS(path string) error {
	dir := filepath.Dir(path)
	for {
		if _, err := os.Stat(dir); err == nil || filepath.Dir(dir) == dir {
			break
		}
		dir = filepath.Dir(dir)
	}
	t, err := statfsType(dir)
	if err != nil {
		return fmt.Errorf("read filesystem type of %s: %w", dir, err)
	}
	if name, ok := networkFS[t]; ok {
		return fmt.Errorf("%w (%s at %s): WAL mode needs shared memory and locks that only a local disk gives, "+
			"so two processes could corrupt the file; put it on a local disk",
			ErrNetworkFS, name, dir)
	}
	return nil
}

// prepareSidecars gives the -wal and -shm files the database file's mode,
// creating them with it when missing: SQLite would create them with the
// process's umask (0644), so a 0600 queue's payloads would be readable by
// every local user through its WAL.
func prepareSidecars(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("stat database: %w", err)
	}
	mode := fi.Mode().Perm()
	for _, suffix := range []string{"-wal", "-shm"} {
		name := path + suffix
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, mode)
		switch {
		case err == nil:
			f.Close()
			if err := sameOwner(name, fi); err != nil {
				return err
			}
		case !errors.Is(err, fs.ErrExist):
			return fmt.Errorf("create %s: %w", filepath.Base(name), err)
		}
		sfi, err := os.Stat(name)
		if err != nil {
			return fmt.Errorf("stat %s: %w", filepath.Base(name), err)
		}
		if sfi.Mode().Perm() == mode {
			continue
		}
		// The umask may have taken bits from a new file; a file another
		// user made is theirs to fix.
		if err := os.Chmod(name, mode); err != nil && !errors.Is(err, fs.ErrPermission) {
			return fmt.Errorf("set mode of %s: %w", filepath.Base(name), err)
		}
	}
	return nil
}

// sameOwner gives a file root created the database's owner, as SQLite's own
// unix VFS does, so that the owner's processes can still open it.
func sameOwner(name string, db fs.FileInfo) error {
	st, ok := db.Sys().(*syscall.Stat_t)
	if !ok || os.Geteuid() != 0 {
		return nil
	}
	if err := os.Chown(name, int(st.Uid), int(st.Gid)); err != nil {
		return fmt.Errorf("set owner of %s: %w", filepath.Base(name), err)
	}
	return nil
}
