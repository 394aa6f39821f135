package seccomp

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// DefaultCacheDir is where husk keeps compiled profiles unless told
// otherwise.
const DefaultCacheDir = "/run/husk/.seccomp-cache"

// formatVersion changes whenever husk compiles the same profile
// differently (prefix layout, table of newer syscalls, Program encoding), so
// that entries written by an older husk are never used.
const formatVersion = "husk-seccomp-2"

// cacheEntry is the file format of one cache entry.
type cacheEntry struct {
	Key     string          `json:"key"`
	Sum     string          `json:"sum"`
	Program json.RawMessage `json:"program"`
}

// CompileCached is Compile with a cache of compiled programs in cacheDir
// (DefaultCacheDir when empty). The key is the SHA-256 of the profile's JSON,
// the native architecture, the libseccomp version and husk's format version.
// Entries are written atomically and checked on read; a damaged entry is
// ignored and rewritten. The directory is created root-only (0700) and must
// be a real directory owned by the caller and writable by nobody else,
// otherwise the cache is bypassed with a warning: a program read from a
// place others can write would be a filter they chose.
func CompileCached(cfg *specs.LinuxSeccomp, cacheDir string) (*Program, error) {
	if cfg == nil {
		return nil, errors.New("seccomp: no profile")
	}
	if cacheDir == "" {
		cacheDir = DefaultCacheDir
	}
	key, err := cacheKey(cfg)
	if err != nil {
		return nil, err
	}
	if err := ensureCacheDir(cacheDir); err != nil {
		logrus.Warnf("seccomp: compile cache disabled: %v", err)
		return Compile(cfg)
	}
	file := filepath.Join(cacheDir, key+".json")
	if prog, err := readEntry(file, key); err == nil {
		return prog, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		logrus.Warnf("seccomp: ignoring cache entry %s: %v", file, err)
	}
	prog, err := Compile(cfg)
	if err != nil {
		return nil, err
	}
	if err := writeEntry(cacheDir, file, key, prog); err != nil {
		logrus.Warnf("seccomp: cannot store compiled profile: %v", err)
	}
	return prog, nil
}

// cacheKey hashes everything the compiled program depends on.
func cacheKey(cfg *specs.LinuxSeccomp) (string, error) {
	// encoding/json writes struct fields in declaration order and LinuxSeccomp
	// has no maps, so equal profiles give equal bytes.
	profile, err := json.Marshal(cfg)
	if err != nil {
		return "", fmt.Errorf("seccomp: encode profile for cache key: %w", err)
	}
	native, err := libseccomp.GetNativeArch()
	if err != nil {
		return "", fmt.Errorf("seccomp: native architecture: %w", err)
	}
	major, minor, micro := libseccomp.GetLibraryVersion()
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d.%d.%d\x00", formatVersion, native, major, minor, micro)
	h.Write(profile)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ensureCacheDir creates dir (and its parents) 0700 and checks that it is
// safe to trust.
func ensureCacheDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return fmt.Errorf("stat %s: %w", dir, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%s is owned by uid %d, not %d", dir, st.Uid, os.Geteuid())
	}
	if st.Mode&0o022 != 0 {
		return fmt.Errorf("%s is writable by group or others (mode %#o)", dir, st.Mode&0o777)
	}
	return nil
}

// readEntry loads and verifies one entry.
func readEntry(file, key string) (*Program, error) {
	f, err := os.OpenFile(file, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, fmt.Errorf("stat: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || int(st.Uid) != os.Geteuid() || st.Mode&0o022 != 0 {
		return nil, errors.New("not a regular file owned by us and writable only by us")
	}
	raw, err := readAll(f)
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	var e cacheEntry
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if e.Key != key {
		return nil, errors.New("key mismatch")
	}
	sum := sha256.Sum256(e.Program)
	if hex.EncodeToString(sum[:]) != e.Sum {
		return nil, errors.New("checksum mismatch")
	}
	var prog Program
	if err := json.Unmarshal(e.Program, &prog); err != nil {
		return nil, err
	}
	if len(prog.Filter) == 0 || len(prog.Filter) > maxFilterLen {
		return nil, fmt.Errorf("bad program length %d", len(prog.Filter))
	}
	return &prog, nil
}

// writeEntry stores prog atomically: a private temporary file in the same
// directory, synced, then renamed over the entry.
func writeEntry(dir, file, key string, prog *Program) error {
	body, err := json.Marshal(prog)
	if err != nil {
		return fmt.Errorf("encode program: %w", err)
	}
	sum := sha256.Sum256(body)
	data, err := json.Marshal(cacheEntry{Key: key, Sum: hex.EncodeToString(sum[:]), Program: body})
	if err != nil {
		return fmt.Errorf("encode entry: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("create temporary entry: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return fmt.Errorf("rename %s: %w", tmp.Name(), err)
	}
	ok = true
	return nil
}
