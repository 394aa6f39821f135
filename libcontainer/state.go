package libcontainer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/husk-runtime/husk/libcontainer/cgroups"
	"github.com/husk-runtime/husk/libcontainer/system"
	"github.com/husk-runtime/husk/specconv"
)

// Errors whose texts managers match (containerd's shim, podman): keep them as runc words them.
var (
	ErrNotExist   = errors.New("container does not exist")
	ErrExist      = errors.New("container with given ID already exists")
	ErrNotRunning = errors.New("container not running")
)

const (
	stateFile = "state.json"
	fifoName  = "exec.fifo"
	// seccompProfileFile holds linux.seccomp, which state.json leaves out: a docker-like profile is
	// most of the spec, and every command would read and scan it for nothing (exec loads the
	// compiled program, seccompFile, and needs the profile only for a notify listener's path).
	seccompProfileFile = "seccomp-profile.json"
)

// Status is a container's derived status.
type Status string

// The statuses of runtime-spec plus runc's paused.
const (
	Creating Status = "creating"
	Created  Status = "created"
	Running  Status = "running"
	Paused   Status = "paused"
	Stopped  Status = "stopped"
)

// State is what husk persists in <root>/<id>/state.json. The status is never stored: it is derived
// from the init process (pid + start time, against PID reuse), the exec FIFO and the freezer.
type State struct {
	ID            string            `json:"id"`
	Bundle        string            `json:"bundle"`
	Rootfs        string            `json:"rootfs"`
	InitPid       int               `json:"init_pid"`
	InitStartTime uint64            `json:"init_start_time"`
	Created       time.Time         `json:"created"`
	CgroupPaths   map[string]string `json:"cgroup_paths,omitempty"`
	Systemd       bool              `json:"systemd,omitempty"`
	Rootless      bool              `json:"rootless,omitempty"`
	NotifySocket  string            `json:"notify_socket,omitempty"` // the host's $NOTIFY_SOCKET at create
	// Config is the container's spec. After Load it holds only what commands after create read (see
	// configView) until FullConfig decodes the rest.
	Config *specs.Spec `json:"config"`
}

// Container is a loaded container.
type Container struct {
	State
	dir string
	cg  cgroups.Manager // loaded on first use, see cgroup()
	// rawConfig is the spec as state.json has it, while Config is only the configView part of it
	// (nil once Config is complete); save writes it back unchanged.
	rawConfig json.RawMessage
	// rawSeccomp is linux.seccomp, decoded into Config only when asked for (Seccomp): read from
	// seccompProfileFile, or from state.json as an earlier husk wrote it.
	rawSeccomp json.RawMessage
	// profileSaved: seccompProfileFile holds Config's profile (save need not write it again).
	profileSaved bool
}

// stateOnDisk is State with the spec kept as raw JSON (its config field shadows State.Config).
type stateOnDisk struct {
	*State
	Config json.RawMessage `json:"config"`
}

// configView is the part of the spec that the commands after create use: process, hooks,
// namespaces, seccomp (kept raw until used), id mappings, version and annotations. Decoding it instead of a whole
// specs.Spec spares encoding/json's analysis of the spec's type tree (resources, mounts, other
// platforms), ~0.5 ms of every `state`, `start`, `kill`, `exec` and `delete`.
type configView struct {
	Version     string            `json:"ociVersion"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Process     *specs.Process    `json:"process,omitempty"`
	Hooks       *specs.Hooks      `json:"hooks,omitempty"`
	Linux       *struct {
		Namespaces  []specs.LinuxNamespace `json:"namespaces,omitempty"`
		Seccomp     json.RawMessage        `json:"seccomp,omitempty"`
		UIDMappings []specs.LinuxIDMapping `json:"uidMappings,omitempty"`
		GIDMappings []specs.LinuxIDMapping `json:"gidMappings,omitempty"`
	} `json:"linux,omitempty"`
}

// FullConfig completes Config from state.json (update needs the resources).
func (c *Container) FullConfig() (*specs.Spec, error) {
	if c.rawConfig == nil {
		return c.Config, nil
	}
	var spec *specs.Spec
	if err := json.Unmarshal(c.rawConfig, &spec); err != nil {
		return nil, fmt.Errorf("parse config of %s: %w", c.ID, err)
	}
	c.Config, c.rawConfig, c.rawSeccomp = spec, nil, nil
	if _, err := c.Seccomp(); err != nil { // the profile kept beside state.json
		return nil, err
	}
	return spec, nil
}

// Seccomp returns the container's linux.seccomp (nil when it has none), decoding it on first use.
func (c *Container) Seccomp() (*specs.LinuxSeccomp, error) {
	if c.Config == nil || c.Config.Linux == nil {
		return nil, nil
	}
	if c.rawSeccomp == nil && c.Config.Linux.Seccomp == nil {
		b, err := os.ReadFile(filepath.Join(c.dir, seccompProfileFile))
		switch {
		case err == nil:
			c.rawSeccomp, c.profileSaved = b, true
		case !errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("read seccomp config of %s: %w", c.ID, err)
		}
	}
	if c.rawSeccomp != nil {
		var sc specs.LinuxSeccomp
		if err := json.Unmarshal(c.rawSeccomp, &sc); err != nil {
			return nil, fmt.Errorf("parse seccomp config of %s: %w", c.ID, err)
		}
		c.Config.Linux.Seccomp, c.rawSeccomp = &sc, nil
	}
	return c.Config.Linux.Seccomp, nil
}

// Load reads a container's state from root.
func Load(root, id string) (*Container, error) {
	if err := specconv.ValidateID(id); err != nil {
		return nil, err
	}
	dir := filepath.Join(root, id)
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			if _, serr := os.Stat(dir); serr == nil {
				// A create that died before its first save: nothing is known but the directory.
				return &Container{State: State{ID: id}, dir: dir}, nil
			}
			return nil, ErrNotExist
		}
		return nil, fmt.Errorf("read state: %w", err)
	}
	c := &Container{dir: dir}
	d := stateOnDisk{State: &c.State}
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("parse state of %s: %w", id, err)
	}
	if len(d.Config) > 0 && string(d.Config) != "null" {
		var v configView
		if err := json.Unmarshal(d.Config, &v); err != nil {
			return nil, fmt.Errorf("parse state of %s: %w", id, err)
		}
		c.Config = &specs.Spec{Version: v.Version, Annotations: v.Annotations, Process: v.Process, Hooks: v.Hooks}
		if l := v.Linux; l != nil {
			c.Config.Linux = &specs.Linux{Namespaces: l.Namespaces, UIDMappings: l.UIDMappings, GIDMappings: l.GIDMappings}
			if len(l.Seccomp) > 0 && string(l.Seccomp) != "null" {
				c.rawSeccomp = l.Seccomp
			}
		}
		c.rawConfig = d.Config
	}
	return c, nil
}

// save writes state.json atomically.
func (c *Container) save() error {
	var b []byte
	var err error
	switch {
	case c.rawConfig != nil:
		b, err = json.Marshal(stateOnDisk{State: &c.State, Config: c.rawConfig})
	case c.Config != nil && c.Config.Linux != nil && c.Config.Linux.Seccomp != nil:
		// The profile goes beside state.json, once (see seccompProfileFile).
		if !c.profileSaved {
			pb, err := json.Marshal(c.Config.Linux.Seccomp)
			if err == nil {
				err = writeFileAtomic(filepath.Join(c.dir, seccompProfileFile), pb, 0o600)
			}
			if err != nil {
				return fmt.Errorf("save state: %w", err)
			}
			c.profileSaved = true
		}
		st := c.State
		st.Config = withoutSeccomp(c.Config)
		b, err = json.Marshal(&st)
	default:
		b, err = json.Marshal(&c.State)
	}
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(c.dir, stateFile), b, 0o600); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}

// withoutSeccomp returns a shallow copy of spec without linux.seccomp (spec's linux section must exist).
func withoutSeccomp(spec *specs.Spec) *specs.Spec {
	sp, l := *spec, *spec.Linux
	l.Seccomp = nil
	sp.Linux = &l
	return &sp
}

// writeFileAtomic writes b to path through a temporary file beside it (".name") renamed into place:
// a reader sees the old content or the new one, never a part.
func writeFileAtomic(path string, b []byte, perm os.FileMode) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path))
	if err := os.WriteFile(tmp, b, perm); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// initAlive tells whether the recorded init process is still the same, live (non-zombie) process.
func (c *Container) initAlive() bool {
	if c.InitPid <= 0 {
		return false
	}
	state, start, err := system.Stat(c.InitPid)
	return err == nil && start == c.InitStartTime && state != 'Z' && state != 'X'
}

// Status derives the container's status.
func (c *Container) Status() Status {
	if !c.initAlive() {
		return Stopped
	}
	// As runc: a frozen container is paused, even one that was never started.
	if c.frozen() {
		return Paused
	}
	if _, err := os.Lstat(filepath.Join(c.dir, fifoName)); err == nil {
		return Created
	}
	return Running
}

// OCIState is the JSON of `husk state` (runc's shape).
type OCIState struct {
	OCIVersion  string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Pid         int               `json:"pid"`
	Status      string            `json:"status"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Created     time.Time         `json:"created"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Owner       string            `json:"owner"`
}

// OCIState returns the container's state as `state` and `list` print it.
func (c *Container) OCIState() *OCIState {
	st := c.Status()
	s := &OCIState{ID: c.ID, Status: string(st), Bundle: c.Bundle, Rootfs: c.Rootfs, Created: c.Created, Owner: owner(c.dir)}
	if c.Config != nil {
		s.OCIVersion = c.Config.Version
		s.Annotations = c.Config.Annotations
	}
	if st != Stopped {
		s.Pid = c.InitPid
	}
	return s
}

// specState is the state handed to hooks.
func (c *Container) specState(status Status) *specs.State {
	s := &specs.State{Version: specs.Version, ID: c.ID, Status: specs.ContainerState(status), Pid: c.InitPid, Bundle: c.Bundle}
	if c.Config != nil {
		s.Annotations = c.Config.Annotations
	}
	if status == Stopped {
		s.Pid = 0
	}
	return s
}

// owner is the user owning the state directory, as runc's list shows it.
func owner(dir string) string {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return ""
	}
	return userName(int(st.Uid))
}

// userName looks uid up in the host's /etc/passwd, falling back to the number.
func userName(uid int) string {
	if uid == 0 {
		return "root"
	}
	b, _ := os.ReadFile("/etc/passwd")
	prefix := ":" + strconv.Itoa(uid) + ":"
	for _, line := range strings.Split(string(b), "\n") {
		if i := strings.IndexByte(line, ':'); i > 0 && strings.HasPrefix(line[strings.IndexByte(line[i+1:], ':')+i+1:], prefix) {
			return line[:i]
		}
	}
	return "#" + strconv.Itoa(uid)
}

// List loads every container under root, sorted by the directory order.
func List(root string) ([]*Container, error) {
	ents, err := os.ReadDir(root)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var out []*Container
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue // .seccomp-cache and other husk-internal entries
		}
		c, err := Load(root, e.Name())
		if err != nil {
			continue
		}
		out = append(out, c)
	}
	return out, nil
}
