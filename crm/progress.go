package crm

import (
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// ProgressBar returns an ImportOptions.Progress that draws a one-line bar
// on w when w is a terminal ("[#####.....]  52%  520000/1000000 rows"), or
// the row count when the total is unknown (0); it ends the line when done
// reaches total. When w is not a terminal (a pipe, a log file) it draws
// nothing: the CLI prints the report at the end instead.
func ProgressBar(w io.Writer) func(done, total int) {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return func(int, int) {}
	}
	return progressDrawer(w)
}

// progressDrawer draws unconditionally (ProgressBar decides whether to).
func progressDrawer(w io.Writer) func(done, total int) {
	const width = 30
	last := -1
	return func(done, total int) {
		if total <= 0 {
			fmt.Fprintf(w, "\r%d rows", done)
			return
		}
		pct := min(100, done*100/total)
		if pct == last && done < total {
			return
		}
		last = pct
		n := pct * width / 100
		fmt.Fprintf(w, "\r[%s%s] %3d%%  %d/%d rows", strings.Repeat("#", n), strings.Repeat(".", width-n), pct, done, total)
		if done >= total {
			fmt.Fprintln(w)
		}
	}
}
