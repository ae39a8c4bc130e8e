package x11test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"math/bits"
)

// XWD constants (XWDFile.h, X.h).
const (
	xwdVersion    = 7
	xwdHeaderSize = 25 * 4 // 25 CARD32 fields, then the window name
	xwdColorSize  = 12     // XWDColor: CARD32 pixel, 3 CARD16, 2 CARD8
	zPixmap       = 2
	msbFirst      = 1
	trueColor     = 4
	directColor   = 5
)

// DecodeXWD decodes an X window dump as written by `xwd`: a ZPixmap of 8,
// 16, 24 or 32 bits per pixel, colour-mapped (8 bits and less) or
// true-colour (channel masks). The header and colour map are big-endian;
// the pixels are in the byte order the header names.
func DecodeXWD(b []byte) (image.Image, error) {
	if len(b) < xwdHeaderSize {
		return nil, errors.New("xwd: short header")
	}
	var h [25]uint32
	for i := range h {
		h[i] = binary.BigEndian.Uint32(b[4*i:])
	}
	headerSize, version, format := h[0], h[1], h[2]
	width, height := int(h[4]), int(h[5])
	byteOrder, bpp, bytesPerLine := h[7], int(h[11]), int(h[12])
	class, masks, ncolors := h[13], [3]uint32{h[14], h[15], h[16]}, int(h[19])

	switch {
	case version != xwdVersion:
		return nil, fmt.Errorf("xwd: file version %d, want %d", version, xwdVersion)
	case format != zPixmap:
		return nil, fmt.Errorf("xwd: pixmap format %d, only ZPixmap (2) is supported", format)
	case bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32:
		return nil, fmt.Errorf("xwd: %d bits per pixel is not supported", bpp)
	case width <= 0 || height <= 0 || width > 1<<15 || height > 1<<15 || bytesPerLine < width*bpp/8:
		return nil, fmt.Errorf("xwd: bad geometry %dx%d, %d bytes per line", width, height, bytesPerLine)
	}
	colormap := int(headerSize)
	pixels := colormap + ncolors*xwdColorSize
	if headerSize < xwdHeaderSize || ncolors < 0 || ncolors > 1<<16 || len(b) < pixels+height*bytesPerLine {
		return nil, errors.New("xwd: truncated file")
	}

	// lookup turns a pixel value into a colour.
	var lookup func(uint32) color.RGBA
	if class == trueColor || class == directColor {
		lookup = func(p uint32) color.RGBA {
			return color.RGBA{channel(p, masks[0]), channel(p, masks[1]), channel(p, masks[2]), 0xff}
		}
	} else {
		cmap := map[uint32]color.RGBA{}
		for i := 0; i < ncolors; i++ {
			c := b[colormap+i*xwdColorSize:]
			cmap[binary.BigEndian.Uint32(c)] = color.RGBA{c[4], c[6], c[8], 0xff}
		}
		lookup = func(p uint32) color.RGBA { return cmap[p] }
	}

	img := image.NewRGBA(image.Rect(0, 0, width, height))
	n := bpp / 8
	for y := 0; y < height; y++ {
		row := b[pixels+y*bytesPerLine:]
		for x := 0; x < width; x++ {
			img.SetRGBA(x, y, lookup(pixel(row[x*n:x*n+n], byteOrder == msbFirst)))
		}
	}
	return img, nil
}

// pixel reads a 1 to 4 byte pixel value.
func pixel(p []byte, msb bool) uint32 {
	var v uint32
	for i := range p {
		if msb {
			v = v<<8 | uint32(p[i])
		} else {
			v |= uint32(p[i]) << (8 * i)
		}
	}
	return v
}

// channel extracts the bits of p under mask and scales them to 8 bits.
func channel(p, mask uint32) uint8 {
	if mask == 0 {
		return 0
	}
	max := uint64(1)<<bits.OnesCount32(mask) - 1
	v := uint64(p&mask) >> bits.TrailingZeros32(mask)
	return uint8(v * 255 / max)
}
