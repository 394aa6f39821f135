package main

import "testing"

func TestRAMInBytes(t *testing.T) {
	good := map[string]int64{
		"0":       0,
		"4096":    4096,
		"1k":      1024,
		"1K":      1024,
		"256m":    256 << 20,
		"256MB":   256 << 20,
		"1.5g":    3 << 29,
		"1GiB":    1 << 30,
		"2 mb":    2 << 20,
		"1t":      1 << 40,
		"1p":      1 << 50,
		"100b":    100,
		"7i":      7,
		"0.5k":    512,
		"1.5 KiB": 1536,
	}
	for in, want := range good {
		got, err := ramInBytes(in)
		if err != nil || got != want {
			t.Errorf("ramInBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "abc", "1x", "-1", "1.", ".5", "k", "1  m", "1.2.3", "99999999p"} {
		if got, err := ramInBytes(in); err == nil {
			t.Errorf("ramInBytes(%q) = %d, want an error", in, got)
		}
	}
	if _, err := ramInBytes("1x"); err == nil || err.Error() != "invalid size: '1x'" {
		t.Errorf("error text: %v", err)
	}
}
