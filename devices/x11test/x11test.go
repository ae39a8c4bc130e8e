// Package x11test starts real X servers for tests and looks at what they
// show: a test starts an Xvfb, runs a client against it, waits for the
// client's window and takes a screenshot to prove the window was drawn.
//
// It needs Xvfb (Debian: xvfb) and xwd and xwininfo (x11-apps, x11-utils).
// A missing tool fails the test with the package to install; it is never a
// reason to skip.
package x11test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nook-sandbox/nook/devices"
)

// Xvfb is a running virtual X server. StartXvfb makes one; t.Cleanup stops it.
type Xvfb struct {
	Display string // ":N"
	Number  int    // N

	// AuthFile is an Xauthority for clients, holding the cookie as a
	// FamilyLocal entry for this host and display, the way a desktop
	// session's ~/.Xauthority does. It is "" when the server takes no
	// cookie (NoAuth).
	AuthFile string
	Cookie   []byte

	Width, Height, Depth int

	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
	stderr *syncBuffer
}

type config struct {
	noAuth               bool
	width, height, depth int
}

// Option changes how StartXvfb starts the server.
type Option func(*config)

// NoAuth starts the server without -auth: it accepts every client.
func NoAuth() Option { return func(c *config) { c.noAuth = true } }

// Screen sets the screen's size and depth (default 640x480x24).
func Screen(width, height, depth int) Option {
	return func(c *config) { c.width, c.height, c.depth = width, height, depth }
}

// StartXvfb starts an Xvfb on a free display number and returns once it
// accepts connections. By default the server requires a fresh
// MIT-MAGIC-COOKIE-1 (see AuthFile). Its root window is black. It is stopped
// when the test ends.
func StartXvfb(t testing.TB, opts ...Option) *Xvfb {
	t.Helper()
	c := config{width: 640, height: 480, depth: 24}
	for _, o := range opts {
		o(&c)
	}
	bin, err := tool("Xvfb")
	if err != nil {
		t.Fatalf("x11test: %v", err)
	}
	dir := t.TempDir()

	x := &Xvfb{Width: c.width, Height: c.height, Depth: c.depth}
	args := []string{
		"-screen", "0", fmt.Sprintf("%dx%dx%d", c.width, c.height, c.depth),
		"-nolisten", "tcp", "-noreset", "-br",
	}
	if !c.noAuth {
		x.Cookie = make([]byte, 16)
		rand.Read(x.Cookie)
		// The server reads every cookie in the file, whatever its
		// family and number.
		serverAuth := filepath.Join(dir, "server.xauth")
		writeXauthority(t, serverAuth, devices.XauthEntry{Family: devices.FamilyWild, Name: devices.MITMagicCookie, Data: x.Cookie})
		args = append(args, "-auth", serverAuth)
	}

	// With -displayfd the server picks the first display number whose
	// socket it can bind, so displays left behind by killed servers do not
	// stop it. Retry anyway: two servers starting at once can race for a
	// number.
	for attempt := 0; attempt < 3; attempt++ {
		if err = x.start(bin, args); err == nil {
			break
		}
		t.Logf("x11test: Xvfb attempt %d: %v", attempt+1, err)
	}
	if err != nil {
		t.Fatalf("x11test: start Xvfb: %v", err)
	}
	t.Cleanup(func() { x.stop(t) })

	x.Display = ":" + strconv.Itoa(x.Number)
	if !c.noAuth {
		host, err := os.Hostname()
		if err != nil {
			t.Fatalf("x11test: %v", err)
		}
		x.AuthFile = filepath.Join(dir, "Xauthority")
		writeXauthority(t, x.AuthFile, devices.XauthEntry{
			Family: devices.FamilyLocal, Address: host, Number: strconv.Itoa(x.Number),
			Name: devices.MITMagicCookie, Data: x.Cookie,
		})
	}
	return x
}

func (x *Xvfb) start(bin string, args []string) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	x.stderr = &syncBuffer{}
	x.cmd = exec.Command(bin, append([]string{"-displayfd", "3"}, args...)...)
	x.cmd.ExtraFiles = []*os.File{w}
	x.cmd.Stderr = x.stderr
	// If the test binary dies, so does the server. The kernel sends
	// Pdeathsig when the thread that forked ends, so that thread is kept
	// for the server alone until the server has exited.
	x.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	x.exited = make(chan struct{})
	started := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		defer close(x.exited)
		err := x.cmd.Start()
		started <- err
		if err == nil {
			x.cmd.Wait()
		}
	}()
	err = <-started
	w.Close()
	if err != nil {
		return err
	}

	number := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		number <- strings.TrimSpace(line)
	}()
	select {
	case s := <-number:
		if x.Number, err = strconv.Atoi(s); err == nil {
			return nil
		}
		x.kill()
		return fmt.Errorf("Xvfb reported no display number (%s); its stderr:\n%s", x.cmd.ProcessState, x.stderr)
	case <-time.After(15 * time.Second):
		x.kill()
		return fmt.Errorf("Xvfb was not ready after 15s; its stderr:\n%s", x.stderr)
	}
}

func (x *Xvfb) kill() {
	x.cmd.Process.Kill()
	<-x.exited
}

func (x *Xvfb) stop(t testing.TB) {
	select {
	case <-x.exited:
		t.Errorf("x11test: Xvfb %s died during the test (%s); its stderr:\n%s", x.Display, x.cmd.ProcessState, x.stderr)
		return
	default:
	}
	x.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-x.exited:
	case <-time.After(5 * time.Second):
		x.kill()
	}
	if t.Failed() {
		t.Logf("x11test: Xvfb %s stderr:\n%s", x.Display, x.stderr)
	}
}

// Env returns the variables a client needs: DISPLAY, and XAUTHORITY unless
// the server takes no cookie.
func (x *Xvfb) Env() []string {
	env := []string{"DISPLAY=" + x.Display}
	if x.AuthFile != "" {
		env = append(env, "XAUTHORITY="+x.AuthFile)
	}
	return env
}

// Command returns a command for a client of x: the test's environment
// without DISPLAY and XAUTHORITY, plus Env.
func (x *Xvfb) Command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = append(Environ("DISPLAY", "XAUTHORITY"), x.Env()...)
	return cmd
}

// Environ returns os.Environ() without the named variables.
func Environ(without ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !contains(without, k) {
			env = append(env, kv)
		}
	}
	return env
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Screenshot captures the root window with xwd.
func (x *Xvfb) Screenshot(t testing.TB) image.Image {
	t.Helper()
	img, err := x.screenshot()
	if err != nil {
		t.Fatalf("x11test: screenshot of %s: %v", x.Display, err)
	}
	return img
}

func (x *Xvfb) screenshot() (image.Image, error) {
	xwd, err := tool("xwd")
	if err != nil {
		return nil, err
	}
	var out, stderr bytes.Buffer
	cmd := x.Command(xwd, "-root", "-silent")
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("xwd: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	return DecodeXWD(out.Bytes())
}

// SaveScreenshot captures the root window, writes it as a PNG at path and
// returns it.
func (x *Xvfb) SaveScreenshot(t testing.TB, path string) image.Image {
	t.Helper()
	img := x.Screenshot(t)
	SavePNG(t, img, path)
	return img
}

// SavePNG writes img as a PNG at path, making its directory.
func SavePNG(t testing.TB, img image.Image, path string) {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatalf("x11test: encode %s: %v", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatalf("x11test: %v", err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatalf("x11test: %v", err)
	}
	t.Logf("x11test: screenshot saved at %s", path)
}

// ArtifactPath returns where a test should keep a file worth looking at
// after the run: $NOOK_ARTIFACTS/<test name>/name when NOOK_ARTIFACTS is
// set, else a file in t.TempDir().
func ArtifactPath(t testing.TB, name string) string {
	t.Helper()
	dir := os.Getenv("NOOK_ARTIFACTS")
	if dir == "" {
		return filepath.Join(t.TempDir(), name)
	}
	test := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	return filepath.Join(dir, test, name)
}

// Window is a viewable window found by WaitForWindow.
type Window struct {
	ID   string // "0x..."
	Name string
	// Bounds is the window's area on the root window, in pixels.
	Bounds image.Rectangle
}

// treeLine matches a window in the output of xwininfo -tree.
var treeLine = regexp.MustCompile(`^\s*(0x[0-9a-f]+) "(.*)": `)

// WaitForWindow polls FindWindow until a window named name is viewable on
// x, and fails the test after timeout.
func WaitForWindow(t testing.TB, x *Xvfb, name string, timeout time.Duration) Window {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		w, err := FindWindow(x, name)
		if err == nil {
			return w
		}
		if time.Now().After(deadline) {
			t.Fatalf("x11test: after %s: %v", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// FindWindow looks for a viewable window named name on x with `xwininfo
// -root -tree`. Its error says what is there instead.
func FindWindow(x *Xvfb, name string) (Window, error) {
	xwininfo, err := tool("xwininfo")
	if err != nil {
		return Window{}, err
	}
	out, err := x.Command(xwininfo, "-root", "-tree").CombinedOutput()
	if err != nil {
		return Window{}, fmt.Errorf("xwininfo -root -tree on %s: %w\n%s", x.Display, err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		m := treeLine.FindStringSubmatch(line)
		if m == nil || m[2] != name {
			continue
		}
		info, err := x.Command(xwininfo, "-id", m[1]).CombinedOutput()
		if err != nil {
			continue // the window went away
		}
		w, viewable := parseWindowInfo(string(info))
		if viewable {
			w.ID, w.Name = m[1], name
			return w, nil
		}
	}
	return Window{}, fmt.Errorf("no viewable window %q on %s; its windows:\n%s", name, x.Display, out)
}

// parseWindowInfo reads the geometry and map state from `xwininfo -id`.
func parseWindowInfo(info string) (w Window, viewable bool) {
	field := func(key string) int {
		for _, line := range strings.Split(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), key+":"); ok {
				n, _ := strconv.Atoi(strings.TrimSpace(v))
				return n
			}
		}
		return 0
	}
	x, y := field("Absolute upper-left X"), field("Absolute upper-left Y")
	w.Bounds = image.Rect(x, y, x+field("Width"), y+field("Height"))
	return w, strings.Contains(info, "Map State: IsViewable")
}

// WaitForDrawn takes screenshots until w's area shows more than one colour,
// which an undrawn window (its background only) does not, and returns the
// last screenshot. It fails the test after timeout.
func WaitForDrawn(t testing.TB, x *Xvfb, w Window, timeout time.Duration) image.Image {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		img := x.Screenshot(t)
		if DistinctColors(Crop(img, w.Bounds)) > 1 {
			return img
		}
		if time.Now().After(deadline) {
			SavePNG(t, img, ArtifactPath(t, "undrawn.png"))
			t.Fatalf("x11test: window %q (%s at %v) shows one colour after %s", w.Name, w.ID, w.Bounds, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Crop returns the part of img inside r.
func Crop(img image.Image, r image.Rectangle) image.Image {
	if s, ok := img.(interface {
		SubImage(image.Rectangle) image.Image
	}); ok {
		return s.SubImage(r)
	}
	return img
}

// DistinctColors counts the distinct colours of img's pixels. An empty
// Xvfb root window has one.
func DistinctColors(img image.Image) int {
	seen := map[[4]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			seen[[4]uint32{r, g, bl, a}] = true
		}
	}
	return len(seen)
}

// packages names the Debian package of each tool the kit runs.
var packages = map[string]string{"Xvfb": "xvfb", "xwd": "x11-apps", "xwininfo": "x11-utils"}

// tool finds an executable; its error names the package to install.
func tool(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s is not installed: apt-get install %s", name, packages[name])
	}
	return p, nil
}

func writeXauthority(t testing.TB, path string, e devices.XauthEntry) {
	t.Helper()
	data, err := devices.MarshalXauthority([]devices.XauthEntry{e})
	if err == nil {
		err = os.WriteFile(path, data, 0o600)
	}
	if err != nil {
		t.Fatalf("x11test: write %s: %v", path, err)
	}
}

// syncBuffer is a bytes.Buffer safe for a process's writes and a test's
// reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
