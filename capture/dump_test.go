package capture

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var dump = flag.Bool("dump", false, "print the parse of every fixture")

func TestDumpFixtures(t *testing.T) {
	if !*dump {
		t.Skip("-dump not set")
	}
	files, _ := filepath.Glob("testdata/*.eml")
	for _, f := range files {
		in, _ := parseFile(t, filepath.Base(f))
		in.Header = nil
		b, _ := json.MarshalIndent(in, "", " ")
		os.Stdout.WriteString("=== " + f + "\n" + string(b) + "\n")
	}
}
