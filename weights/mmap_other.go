//go:build !unix

package weights

import "os"

// mapFile reads the whole file (no mmap on this platform).
func mapFile(f *os.File, size int64) ([]byte, func() error, error) {
	return readAll(f, size)
}
