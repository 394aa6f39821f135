package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// benchOCIVersion is written into every bundle: crun 1.8 refuses newer
// versions, and it is what runc and every client send.
const benchOCIVersion = "1.0.2-dev"

// cgroupParent is the cgroup under which typical containers are placed.
const cgroupParent = "/husk-bench"

// Bundle kinds.
const (
	kindMinimal = "minimal"
	kindTypical = "typical"
)

// bundleSet holds the two template bundles and writes per-container bundles
// (a config.json pointing at the template's rootfs) on demand.
type bundleSet struct {
	dir       string                 // build/bench
	templates map[string]*specs.Spec // kind → spec with root.path absolute
	rootfs    map[string]string      // kind → absolute rootfs path
}

// buildBundles writes <dir>/minimal (husk spec + busybox rootfs, /bin/true)
// and <dir>/typical (containerd-like, seccompProfile as its filter).
func buildBundles(dir, husk, busybox, seccompProfile string) (*bundleSet, error) {
	bs := &bundleSet{dir: dir, templates: map[string]*specs.Spec{}, rootfs: map[string]string{}}
	for _, kind := range []string{kindMinimal, kindTypical} {
		bdir := filepath.Join(dir, kind)
		if err := os.RemoveAll(bdir); err != nil {
			return nil, fmt.Errorf("clean %s: %w", bdir, err)
		}
		rootfs := filepath.Join(bdir, "rootfs")
		if err := buildRootfs(rootfs, busybox); err != nil {
			return nil, fmt.Errorf("%s bundle: %w", kind, err)
		}
		var s *specs.Spec
		var err error
		if kind == kindMinimal {
			s, err = huskSpec(husk, bdir)
		} else {
			s, err = typicalSpec(bdir, seccompProfile)
		}
		if err != nil {
			return nil, fmt.Errorf("%s bundle: %w", kind, err)
		}
		s.Version = benchOCIVersion
		s.Process.Terminal = false
		s.Process.Args = []string{"/bin/true"}
		s.Root.Path = "rootfs"
		if err := writeSpec(bdir, s); err != nil {
			return nil, err
		}
		abs, err := filepath.Abs(rootfs)
		if err != nil {
			return nil, fmt.Errorf("rootfs path: %w", err)
		}
		bs.rootfs[kind] = abs
		bs.templates[kind] = s
	}
	return bs, nil
}

// huskSpec runs `husk spec` in bdir and reads the result back.
func huskSpec(husk, bdir string) (*specs.Spec, error) {
	cfg := filepath.Join(bdir, "config.json")
	if out, err := exec.Command(husk, "spec", "--bundle", bdir).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("husk spec: %w: %s", err, strings.TrimSpace(string(out)))
	}
	data, err := os.ReadFile(cfg)
	if err != nil {
		return nil, fmt.Errorf("read husk spec output: %w", err)
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("decode %s: %w", cfg, err)
	}
	if s.Process == nil || s.Root == nil {
		return nil, fmt.Errorf("%s: no process or root", cfg)
	}
	return &s, nil
}

func writeSpec(bdir string, s *specs.Spec) error {
	data, err := json.MarshalIndent(s, "", "\t")
	if err != nil {
		return fmt.Errorf("encode spec: %w", err)
	}
	if err := os.MkdirAll(bdir, 0o755); err != nil {
		return fmt.Errorf("create bundle %s: %w", bdir, err)
	}
	path := filepath.Join(bdir, "config.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// buildRootfs makes a busybox-static root filesystem: bin/busybox and one
// symlink per applet, the usual empty mount points and minimal /etc files.
func buildRootfs(rootfs, busybox string) error {
	for _, d := range []string{"bin", "proc", "sys", "dev", "run", "etc", "root", "tmp"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			return fmt.Errorf("rootfs dir %s: %w", d, err)
		}
	}
	if err := os.Chmod(filepath.Join(rootfs, "tmp"), os.ModePerm|os.ModeSticky); err != nil {
		return fmt.Errorf("rootfs /tmp: %w", err)
	}
	data, err := os.ReadFile(busybox)
	if err != nil {
		return fmt.Errorf("read busybox: %w", err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin", "busybox"), data, 0o755); err != nil {
		return fmt.Errorf("copy busybox: %w", err)
	}
	out, err := exec.Command(busybox, "--list").Output()
	if err != nil {
		return fmt.Errorf("busybox --list: %w", err)
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" || strings.Contains(applet, "/") {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(rootfs, "bin", applet)); err != nil {
			return fmt.Errorf("applet %s: %w", applet, err)
		}
	}
	files := map[string]string{
		"etc/passwd":      "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
		"etc/group":       "root:x:0:\nnogroup:x:65534:\n",
		"etc/hosts":       "127.0.0.1\tlocalhost\n",
		"etc/resolv.conf": "",
		"etc/hostname":    "",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(rootfs, name), []byte(content), 0o644); err != nil {
			return fmt.Errorf("rootfs %s: %w", name, err)
		}
	}
	return nil
}

// instance is one container's bundle directory.
type instance struct {
	ID  string
	Dir string
}

// pidFile is where `create` writes the init's pid.
func (in instance) pidFile() string { return filepath.Join(in.Dir, "init.pid") }

// newInstance writes <dir>/run/<id>/config.json from the kind's template
// with args as process.args; typical containers get their own cgroup
// /husk-bench/<id>. mutate, when not nil, edits the spec last.
func (bs *bundleSet) newInstance(kind, id string, args []string, mutate func(*specs.Spec)) (instance, error) {
	tmpl, ok := bs.templates[kind]
	if !ok {
		return instance{}, fmt.Errorf("unknown bundle kind %q", kind)
	}
	s, err := cloneSpec(tmpl)
	if err != nil {
		return instance{}, err
	}
	s.Root.Path = bs.rootfs[kind]
	if len(args) > 0 {
		s.Process.Args = append([]string(nil), args...)
	}
	if kind == kindTypical {
		s.Linux.CgroupsPath = cgroupParent + "/" + id
		for i := range s.Mounts {
			if s.Mounts[i].Type == "bind" && !filepath.IsAbs(s.Mounts[i].Source) {
				s.Mounts[i].Source = filepath.Join(bs.dir, kindTypical, s.Mounts[i].Source)
			}
		}
	}
	if mutate != nil {
		mutate(s)
	}
	in := instance{ID: id, Dir: filepath.Join(bs.dir, "run", id)}
	if err := writeSpec(in.Dir, s); err != nil {
		return instance{}, err
	}
	return in, nil
}

// remove deletes the instance's bundle directory.
func (in instance) remove() error {
	if err := os.RemoveAll(in.Dir); err != nil {
		return fmt.Errorf("remove bundle %s: %w", in.Dir, err)
	}
	return nil
}

func cloneSpec(s *specs.Spec) (*specs.Spec, error) {
	data, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode spec: %w", err)
	}
	var c specs.Spec
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("decode spec: %w", err)
	}
	return &c, nil
}
