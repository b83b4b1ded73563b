package capture

import (
	"slices"
	"strings"
)

// The parse flags: short codes of what was wrong with a mail (or what a
// limit cut), stored with the message (ticket.Message.ParseFlags) and shown
// by the API. A mail the parser had to repair carries at least one; valid
// mail that only met a limit carries limit_reached alone and no
// parse_error.
const (
	FlagNULBytes          = "nul_bytes"
	Flag8BitHeader        = "8bit_header"
	FlagBareCR            = "bare_cr"
	FlagMixedLineEndings  = "mixed_line_endings"
	FlagBadDate           = "bad_date"
	FlagBadMessageID      = "bad_message_id"
	FlagBadAddress        = "bad_address"
	FlagBadRFC2231        = "bad_rfc2231"
	FlagOverlongLine      = "overlong_line"
	FlagUnsafeFilename    = "unsafe_filename"
	FlagEmptyRFC822       = "empty_rfc822"
	FlagLimitReached      = "limit_reached"
	FlagStrayHeaderLine   = "stray_header_line"
	FlagNoHeader          = "no_header"
	FlagNoBlankLine       = "no_blank_line"
	FlagBadEncodedWord    = "bad_encoded_word"
	FlagBadCharset        = "bad_charset"
	FlagCharsetGuessed    = "charset_guessed" // undeclared or mislabelled text decoded by detection
	FlagBadTransferEncode = "bad_transfer_encoding"
	FlagBadContentType    = "bad_content_type"
	FlagMissingBoundary   = "missing_boundary"
	FlagTruncated         = "truncated"
	FlagEmptyMessage      = "empty_message"
	FlagInternalError     = "internal_error"
)

// flagOf names the code of one of the parser's notes ("" for none).
func flagOf(note string) string {
	n := strings.ToLower(note)
	if code, _, ok := strings.Cut(n, ":"); ok && isFlag(code) {
		return code
	}
	switch {
	case strings.Contains(n, "nul bytes"):
		return FlagNULBytes
	case strings.Contains(n, "over the limit") || strings.Contains(n, "nested deeper") || strings.Contains(n, "more than") && strings.Contains(n, "attachments"):
		return FlagLimitReached
	case strings.Contains(n, "overlong line"):
		return FlagOverlongLine
	case strings.Contains(n, "starts with a continuation"):
		return FlagStrayHeaderLine
	case strings.HasPrefix(n, "no header"):
		return FlagNoHeader
	case strings.Contains(n, "not ended by a blank line"):
		return FlagNoBlankLine
	case strings.HasPrefix(n, "internal error"):
		return FlagInternalError
	case n == "empty message":
		return FlagEmptyMessage
	case strings.Contains(n, "malformed content-type"):
		return FlagBadContentType
	case strings.Contains(n, "boundary"):
		return FlagMissingBoundary
	case strings.Contains(n, "missing close delimiter") || strings.Contains(n, "truncated"):
		return FlagTruncated
	case strings.Contains(n, "base64") || strings.Contains(n, "quoted-printable") || strings.Contains(n, "uuencode"):
		return FlagBadTransferEncode
	case strings.Contains(n, "encoded-word") || strings.Contains(n, "encoded word"):
		return FlagBadEncodedWord
	case strings.Contains(n, FlagCharsetGuessed):
		return FlagCharsetGuessed
	case strings.Contains(n, "charset"):
		return FlagBadCharset
	}
	return ""
}

var allFlags = []string{FlagNULBytes, Flag8BitHeader, FlagBareCR, FlagMixedLineEndings, FlagBadDate, FlagBadMessageID,
	FlagBadAddress, FlagBadRFC2231, FlagOverlongLine, FlagUnsafeFilename, FlagEmptyRFC822, FlagLimitReached,
	FlagStrayHeaderLine, FlagNoHeader, FlagNoBlankLine, FlagBadEncodedWord, FlagBadCharset, FlagCharsetGuessed, FlagBadTransferEncode,
	FlagBadContentType, FlagMissingBoundary, FlagTruncated, FlagEmptyMessage, FlagInternalError}

func isFlag(s string) bool { return slices.Contains(allFlags, s) }
