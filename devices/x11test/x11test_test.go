package x11test

import (
	"bytes"
	"encoding/binary"
	"flag"
	"image"
	"image/color"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestXclockIsDrawn(t *testing.T) {
	x := StartXvfb(t)
	before := x.SaveScreenshot(t, ArtifactPath(t, "before.png"))
	if got := before.Bounds(); got != image.Rect(0, 0, 640, 480) {
		t.Fatalf("screenshot bounds = %v, want 640x480", got)
	}
	if n := DistinctColors(before); n != 1 {
		t.Fatalf("the empty root window shows %d colours, want 1", n)
	}

	xclock := x.Command("xclock", "-update", "1")
	var stderr bytes.Buffer
	xclock.Stderr = &stderr
	if err := xclock.Start(); err != nil {
		t.Fatalf("start xclock (apt-get install x11-apps): %v", err)
	}
	t.Cleanup(func() {
		xclock.Process.Kill()
		xclock.Wait()
		if t.Failed() {
			t.Logf("xclock stderr:\n%s", &stderr)
		}
	})

	w := WaitForWindow(t, x, "xclock", 10*time.Second)
	if w.Bounds.Empty() || !w.Bounds.In(before.Bounds()) {
		t.Fatalf("xclock window bounds %v are not on the screen", w.Bounds)
	}
	img := WaitForDrawn(t, x, w, 10*time.Second)
	SavePNG(t, img, ArtifactPath(t, "xclock.png"))
	if n := DistinctColors(Crop(img, w.Bounds)); n < 2 {
		t.Errorf("xclock's window shows %d colours, want a drawn face", n)
	}
	if n := DistinctColors(img); n < 2 {
		t.Errorf("the screen shows %d colours, want the black root and xclock's face", n)
	}
}

func TestXvfbAuth(t *testing.T) {
	xdpyinfo := func(x *Xvfb, xauthority string) error {
		cmd := x.Command("xdpyinfo")
		if xauthority != "" {
			cmd.Env = append(cmd.Env, "XAUTHORITY="+xauthority)
		}
		out, err := cmd.CombinedOutput()
		if err == nil && !strings.Contains(string(out), "name of display:") {
			t.Errorf("xdpyinfo printed no display: %s", out)
		}
		return err
	}
	t.Run("cookie", func(t *testing.T) {
		t.Parallel()
		x := StartXvfb(t)
		if x.AuthFile == "" || len(x.Cookie) != 16 {
			t.Fatalf("AuthFile %q, cookie of %d bytes, want a file and 16 bytes", x.AuthFile, len(x.Cookie))
		}
		if err := xdpyinfo(x, ""); err != nil {
			t.Errorf("xdpyinfo with AuthFile: %v", err)
		}
		if err := xdpyinfo(x, "/dev/null"); err == nil {
			t.Error("xdpyinfo without a cookie connected; the server must refuse it")
		}
	})
	t.Run("no auth", func(t *testing.T) {
		t.Parallel()
		x := StartXvfb(t, NoAuth(), Screen(320, 200, 16))
		if x.AuthFile != "" || x.Cookie != nil {
			t.Errorf("NoAuth: AuthFile %q, cookie %d bytes, want none", x.AuthFile, len(x.Cookie))
		}
		if err := xdpyinfo(x, "/dev/null"); err != nil {
			t.Errorf("xdpyinfo without a cookie: %v", err)
		}
		img := x.Screenshot(t)
		if img.Bounds() != image.Rect(0, 0, 320, 200) || DistinctColors(img) != 1 {
			t.Errorf("16-bit screenshot: bounds %v, %d colours, want 320x200, 1", img.Bounds(), DistinctColors(img))
		}
	})
}

// TestXvfbParallel starts servers at once: each must get its own display.
func TestXvfbParallel(t *testing.T) {
	// As many servers as run at once: the subtests wait for each other.
	n := min(4, flag.Lookup("test.parallel").Value.(flag.Getter).Get().(int))
	if n < 2 {
		t.Skip("go test -parallel 1 runs one subtest at a time; this test needs two at once")
	}
	var started sync.WaitGroup // all servers are up at the same time
	started.Add(n)
	displays := make(chan string, n)
	t.Run("group", func(t *testing.T) {
		for i := 0; i < n; i++ {
			t.Run("", func(t *testing.T) {
				t.Parallel()
				var once sync.Once
				up := func() { once.Do(started.Done) }
				t.Cleanup(up) // when StartXvfb fails
				x := StartXvfb(t, NoAuth())
				up()
				started.Wait()
				if out, err := x.Command("xdpyinfo").CombinedOutput(); err != nil {
					t.Errorf("xdpyinfo on %s: %v\n%s", x.Display, err, out)
				}
				displays <- x.Display
			})
		}
	})
	close(displays)
	seen := map[string]bool{}
	for d := range displays {
		if seen[d] {
			t.Errorf("display %s was given to two servers", d)
		}
		seen[d] = true
	}
}

func TestEnv(t *testing.T) {
	t.Setenv("DISPLAY", ":99")
	t.Setenv("XAUTHORITY", "/host/xauth")
	x := &Xvfb{Display: ":3", AuthFile: "/tmp/a"}
	env := x.Command("true").Env
	var got []string
	for _, kv := range env {
		if strings.HasPrefix(kv, "DISPLAY=") || strings.HasPrefix(kv, "XAUTHORITY=") {
			got = append(got, kv)
		}
	}
	if want := []string{"DISPLAY=:3", "XAUTHORITY=/tmp/a"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("client env has %q, want %q", got, want)
	}
}

// xwdFile builds an XWD file: a header with the given fields, a colour map
// and pixel rows.
func xwdFile(bpp, bytesPerLine, byteOrder, class uint32, masks [3]uint32, colors [][4]uint32, width, height uint32, pixels []byte) []byte {
	name := []byte("xwdump\x00")
	var h [25]uint32
	h[0] = uint32(xwdHeaderSize + len(name))
	h[1], h[2], h[3] = xwdVersion, zPixmap, 24
	h[4], h[5] = width, height
	h[7], h[11], h[12], h[13] = byteOrder, bpp, bytesPerLine, class
	h[14], h[15], h[16] = masks[0], masks[1], masks[2]
	h[19] = uint32(len(colors))
	var b []byte
	for _, v := range h {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	b = append(b, name...)
	for _, c := range colors { // pixel, red, green, blue
		b = binary.BigEndian.AppendUint32(b, c[0])
		for _, v := range c[1:] {
			b = binary.BigEndian.AppendUint16(b, uint16(v))
		}
		b = append(b, 7, 0) // flags, pad
	}
	return append(b, pixels...)
}

func TestDecodeXWD(t *testing.T) {
	rgb := [3]uint32{0xff0000, 0x00ff00, 0x0000ff}
	red, green, blue, white := color.RGBA{255, 0, 0, 255}, color.RGBA{0, 255, 0, 255}, color.RGBA{0, 0, 255, 255}, color.RGBA{255, 255, 255, 255}
	for _, tt := range []struct {
		name string
		file []byte
		want [][]color.RGBA
	}{
		{
			name: "32 bits, LSB first, padded rows, a colour map to skip",
			file: xwdFile(32, 12, 0, trueColor, rgb, [][4]uint32{{0, 1, 2, 3}}, 2, 2, []byte{
				0, 0, 255, 0, 0, 255, 0, 0, 9, 9, 9, 9,
				255, 0, 0, 0, 255, 255, 255, 0, 9, 9, 9, 9,
			}),
			want: [][]color.RGBA{{red, green}, {blue, white}},
		}, {
			name: "32 bits, MSB first",
			file: xwdFile(32, 8, msbFirst, trueColor, rgb, nil, 2, 1, []byte{0, 255, 0, 0, 0, 0, 0, 255}),
			want: [][]color.RGBA{{red, blue}},
		}, {
			name: "24 bits",
			file: xwdFile(24, 6, 0, trueColor, rgb, nil, 2, 1, []byte{0, 255, 0, 255, 255, 255}),
			want: [][]color.RGBA{{green, white}},
		}, {
			name: "16 bits, 565",
			file: xwdFile(16, 4, 0, trueColor, [3]uint32{0xf800, 0x07e0, 0x001f}, nil, 2, 1, []byte{0x00, 0xf8, 0x1f, 0x00}),
			want: [][]color.RGBA{{red, blue}},
		}, {
			name: "8 bits, colour map",
			file: xwdFile(8, 2, 0, 3, [3]uint32{}, [][4]uint32{{0, 0xffff, 0, 0}, {1, 0, 0, 0xffff}}, 2, 1, []byte{1, 0}),
			want: [][]color.RGBA{{blue, red}},
		},
	} {
		img, err := DecodeXWD(tt.file)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if got, want := img.Bounds(), image.Rect(0, 0, len(tt.want[0]), len(tt.want)); got != want {
			t.Errorf("%s: bounds %v, want %v", tt.name, got, want)
			continue
		}
		for y, row := range tt.want {
			for x, want := range row {
				if got := color.RGBAModel.Convert(img.At(x, y)); got != want {
					t.Errorf("%s: pixel (%d,%d) = %v, want %v", tt.name, x, y, got, want)
				}
			}
		}
	}

	good := xwdFile(32, 4, 0, trueColor, rgb, nil, 1, 1, []byte{0, 0, 0, 0})
	for _, tt := range []struct {
		name string
		file []byte
		err  string
	}{
		{"empty", nil, "short header"},
		{"truncated pixels", good[:len(good)-1], "truncated"},
		{"version", func() []byte { b := bytes.Clone(good); b[7] = 6; return b }(), "file version 6"},
		{"XY pixmap", func() []byte { b := bytes.Clone(good); b[11] = 1; return b }(), "only ZPixmap"},
		{"bits per pixel", xwdFile(12, 4, 0, trueColor, rgb, nil, 1, 1, []byte{0, 0, 0, 0}), "12 bits per pixel"},
		{"short rows", xwdFile(32, 3, 0, trueColor, rgb, nil, 1, 1, []byte{0, 0, 0, 0}), "bad geometry"},
	} {
		if _, err := DecodeXWD(tt.file); err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%s: error = %v, want %q", tt.name, err, tt.err)
		}
	}
}

func TestParseWindowInfo(t *testing.T) {
	const info = `
xwininfo: Window id: 0x200009 "xclock"

  Absolute upper-left X:  10
  Absolute upper-left Y:  20
  Relative upper-left X:  0
  Relative upper-left Y:  0
  Width: 164
  Height: 166
  Depth: 24
  Map State: IsViewable
`
	w, viewable := parseWindowInfo(info)
	if !viewable || w.Bounds != image.Rect(10, 20, 174, 186) {
		t.Errorf("parseWindowInfo = %v, %v, want (10,20)-(174,186), viewable", w.Bounds, viewable)
	}
	if _, viewable := parseWindowInfo(strings.Replace(info, "IsViewable", "IsUnMapped", 1)); viewable {
		t.Error("an unmapped window is viewable")
	}
}

func TestDistinctColors(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	if n := DistinctColors(img); n != 1 {
		t.Errorf("blank image: %d colours, want 1", n)
	}
	img.Set(3, 3, color.White)
	if n := DistinctColors(img); n != 2 {
		t.Errorf("one white pixel: %d colours, want 2", n)
	}
	if n := DistinctColors(Crop(img, image.Rect(0, 0, 2, 2))); n != 1 {
		t.Errorf("cropped away from the white pixel: %d colours, want 1", n)
	}
}
