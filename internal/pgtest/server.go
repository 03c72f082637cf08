package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// binaries are the server programs of one PostgreSQL installation.
type binaries struct{ initdb, postgres string }

// debianBin is where Debian and Ubuntu install each major version's programs.
const debianBin = "/usr/lib/postgresql/*/bin"

// findBinaries looks for initdb and postgres on PATH, then in the newest
// version under debianBin (Debian keeps them off PATH).
func findBinaries() (binaries, error) { return findBinariesIn(debianBin) }

// findBinariesIn is findBinaries with the glob of fallback folders.
func findBinariesIn(glob string) (binaries, error) {
	if initdb, err := exec.LookPath("initdb"); err == nil {
		if pg, err := exec.LookPath("postgres"); err == nil {
			return binaries{initdb, pg}, nil
		}
	}
	dirs, _ := filepath.Glob(glob)
	slices.SortFunc(dirs, func(a, b string) int { return majorOf(b) - majorOf(a) })
	for _, d := range dirs {
		b := binaries{filepath.Join(d, "initdb"), filepath.Join(d, "postgres")}
		if isFile(b.initdb) && isFile(b.postgres) {
			return b, nil
		}
	}
	return binaries{}, errors.New("initdb and postgres are neither on PATH nor in " + glob)
}

// majorOf reads the version from /usr/lib/postgresql/VERSION/bin.
func majorOf(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// A private server's folder is named tempPrefix* and holds ownerFile, the
// process id of the test binary that made it.
const (
	tempPrefix = "sluice-pgtest-"
	ownerFile  = "owner.pid"
)

// removeOrphans removes the folders of private servers whose test binary
// is gone (killed: its server went with it, its folder stayed).
func removeOrphans() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), tempPrefix+"*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, ownerFile))
		if err != nil {
			continue // being made, or not ours
		}
		pid, err := strconv.Atoi(string(b))
		if err != nil || pid <= 0 || syscall.Kill(pid, 0) != syscall.ESRCH {
			continue // alive (or not ours to judge)
		}
		_ = os.RemoveAll(d)
	}
}

// server is a private PostgreSQL server, a child of this process.
type server struct {
	dir  string // data folder and socket, removed by stop
	url  string
	cmd  *exec.Cmd
	done chan error // the postmaster's exit
}

// port names the socket file (.s.PGSQL.5432); with listen_addresses=”
// nothing listens on TCP, so it never clashes with another server.
const port = 5432

// Server is a private, throwaway PostgreSQL server for a program that is not
// a test (the benchmark command): the server tests get through URL, started
// by hand. It is this process's child and ends with it.
type Server struct{ s *server }

// StartServer starts a private server from the installed binaries, as URL
// does for tests. settings ("name=value", passed as -c) override the test
// tunings, e.g. "fsync=on" for a durable server. ErrNoBinaries, wrapped,
// when PostgreSQL is not installed.
func StartServer(settings ...string) (*Server, error) {
	bins, err := findBinaries()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoBinaries, err)
	}
	s, err := start(bins, settings...)
	if err != nil {
		return nil, fmt.Errorf("start a private server: %w", err)
	}
	return &Server{s}, nil
}

// ErrNoBinaries is StartServer's error when initdb and postgres are missing.
var ErrNoBinaries = errors.New("no PostgreSQL installed")

// URL is the server's maintenance database (postgres) as the superuser.
func (s *Server) URL() string { return s.s.url }

// Stop shuts the server down and removes its folder.
func (s *Server) Stop() error { return s.s.stop() }

// start creates a cluster in a new temporary folder and starts its server,
// with settings after the test tunings (so they override them).
// PostgreSQL refuses to run as root: when this process is root, the folder
// is given to the postgres user and both programs run as that user.
func start(b binaries, settings ...string) (*server, error) {
	removeOrphans()
	dir, err := os.MkdirTemp("", tempPrefix)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	s := &server{dir: dir, done: make(chan error, 1)}
	cred, err := credential(dir)
	if err == nil {
		err = s.initdb(b, cred)
	}
	if err == nil {
		err = s.run(b, cred, settings)
	}
	if err == nil {
		err = s.waitReady()
	}
	if err != nil {
		return nil, errors.Join(err, s.stop())
	}
	return s, nil
}

// credential returns the postgres user's credential when running as root,
// after giving it dir; nil otherwise.
func credential(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, and PostgreSQL refuses root: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func (s *server) initdb(b binaries, cred *syscall.Credential) error {
	cmd := exec.Command(b.initdb, "-D", filepath.Join(s.dir, "data"), "-A", "trust", "-U", "postgres",
		"--no-sync", "-E", "UTF8", "--locale", "C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Dir = s.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w: %s", err, out)
	}
	return nil
}

// run starts the postmaster from a goroutine locked to its OS thread for the
// postmaster's whole life: the parent-death signal fires when the starting
// thread ends, and this way only when the test binary does.
func (s *server) run(b binaries, cred *syscall.Credential, settings []string) error {
	log, err := os.Create(filepath.Join(s.dir, "server.log"))
	if err != nil {
		return err
	}
	args := []string{"-D", filepath.Join(s.dir, "data"), "-k", s.dir, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "shared_buffers=32MB", "-c", "max_connections=200"}
	for _, kv := range settings {
		args = append(args, "-c", kv) // the last value of a setting counts
	}
	cmd := exec.Command(b.postgres, args...)
	cmd.Stdout, cmd.Stderr = log, log
	// SIGQUIT: immediate shutdown, which also ends the server's children.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		s.done <- cmd.Wait()
		log.Close()
	}()
	if err := <-started; err != nil {
		log.Close()
		return fmt.Errorf("start postgres: %w", err)
	}
	s.cmd = cmd
	s.url = fmt.Sprintf("postgres://postgres@/postgres?host=%s&port=%d&sslmode=disable", s.dir, port)
	return nil
}

// waitReady polls the socket until the server accepts connections.
func (s *server) waitReady() error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		conn, err := pgx.Connect(ctx, s.url)
		cancel()
		if err == nil {
			return conn.Close(context.Background())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server not ready within a minute: %w (log: %s)", err, s.log())
		}
		select {
		case werr := <-s.done:
			return fmt.Errorf("server exited: %v (log: %s)", werr, s.log())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (s *server) log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
	return string(b)
}

// stop shuts the server down (fast: sessions end, no checkpoint wait beyond
// the shutdown one), kills it if that takes too long, and removes its folder.
func (s *server) stop() error {
	var err error
	if s.cmd != nil {
		_ = s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			_ = s.cmd.Process.Signal(syscall.SIGQUIT)
			<-s.done
			err = errors.New("server ignored a fast shutdown for 30s; quit it")
		}
	}
	return errors.Join(err, os.RemoveAll(s.dir))
}
