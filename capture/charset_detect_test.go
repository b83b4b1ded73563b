package capture

import (
	"slices"
	"strings"
	"testing"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// TestCharsetDetection: undeclared and mislabelled 8-bit text is decoded
// by detection (Shift_JIS sent as ISO-2022-JP, GBK sent as latin-1,
// undeclared windows-1251) and flagged charset_guessed; genuine Latin-1
// stays Latin-1, unflagged.
func TestCharsetDetection(t *testing.T) {
	for _, tc := range []struct {
		file, want string
	}{
		{"charset-sjis-labelled-iso2022jp.eml", "請求書の件でご連絡いたしました"},
		{"charset-gbk-labelled-latin1.eml", "我们的订单系统从今天早上开始出现超时错误"},
		{"charset-undeclared-cp1251.eml", "С сегодняшнего утра наш заказ не проходит"},
	} {
		in, _ := parseFile(t, tc.file)
		if !strings.Contains(in.Text, tc.want) {
			t.Errorf("%s: text %q lacks %q", tc.file, in.Text, tc.want)
		}
		if !slices.Contains(in.ParseFlags, FlagCharsetGuessed) {
			t.Errorf("%s: flags %v lack %s", tc.file, in.ParseFlags, FlagCharsetGuessed)
		}
	}
	// Latin-1 that is Latin-1: read as declared, no flag.
	s, problem := decodeCharset("iso-8859-1", []byte("Gr\xfc\xdfe aus M\xfcnchen, die Bestellung f\xfcr Frau M\xfcller ist noch nicht da."))
	if s != "Grüße aus München, die Bestellung für Frau Müller ist noch nicht da." || problem != "" {
		t.Errorf("latin-1: %q %q", s, problem)
	}
	// Too little to guess from: the windows-1252 default, unflagged.
	if s, problem := decodeCharset("", []byte("Caf\xe9")); s != "Café" || problem != "" {
		t.Errorf("short undeclared: %q %q", s, problem)
	}
}

// TestDenseHighBytes: the pre-filter that spares Latin-1 text the
// detector lets CJK text through and stops Western European text.
func TestDenseHighBytes(t *testing.T) {
	latin1 := func(s string) []byte {
		b, err := charmap.ISO8859_1.NewEncoder().Bytes([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	gbk, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte("您好，订单系统超时了，请尽快帮忙查看。谢谢！"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		b    []byte
		want bool
	}{
		{"French", latin1("Bonjour, la facture de novembre est arrivée deux fois. Pourriez-vous vérifier ? Merci beaucoup, François"), false},
		{"German", latin1("Sehr geehrte Damen und Herren, die Lieferung ist leider nicht vollständig angekommen. Grüße"), false},
		{"GBK", gbk, true},
		{"GBK in an English mail", append([]byte("Hello,\r\n"), gbk...), true},
	} {
		if got := denseHighBytes(tt.b); got != tt.want {
			t.Errorf("%s: denseHighBytes = %v, want %v", tt.name, got, tt.want)
		}
	}
}
