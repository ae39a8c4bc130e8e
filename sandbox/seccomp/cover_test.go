package seccomp

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestMaskedCover(t *testing.T) {
	tests := []struct {
		width int
		deny  []uint32
		max   int // at most this many tests
	}{
		{32, []uint32{0x5412, 0x541c}, 64},
		{32, []uint32{0}, 32},
		{32, []uint32{0xffffffff}, 32},
		{32, nil, 1},
		{6, []uint32{38, 40}, 12},
		{6, []uint32{0, 63}, 12},
		{4, []uint32{1, 1, 2}, 8},
		{1, []uint32{0, 1}, 0},
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tt := range tests {
		cover := maskedCover(tt.width, tt.deny)
		if len(cover) > tt.max {
			t.Errorf("width %d deny %#x: %d tests, want at most %d", tt.width, tt.deny, len(cover), tt.max)
		}
		values := []uint32{0, 1, 0xffffffff, 1<<31 - 1, 1 << 31}
		for _, d := range tt.deny {
			values = append(values, d, d-1, d+1, d^1<<31)
		}
		for v := range uint32(1 << 12) {
			values = append(values, v)
		}
		for range 50000 {
			values = append(values, rng.Uint32())
		}
		for _, v := range values {
			want := (tt.width == 32 || v < 1<<tt.width) && !slices.Contains(tt.deny, v)
			n := 0
			for _, m := range cover {
				if v&m.mask == m.value {
					n++
				}
			}
			if n > 1 || (n == 1) != want {
				t.Fatalf("width %d deny %#x: %#x matches %d tests, want %v", tt.width, tt.deny, v, n, want)
			}
		}
	}
}
