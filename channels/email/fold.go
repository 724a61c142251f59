package email

import (
	"regexp"
	"strings"
)

// Markers of quoted history: the first line that matches starts the
// history, which Fold hides. Each is anchored on a whole line so a customer
// who writes "wrote:" mid-sentence keeps their text.
var historyStarts = []*regexp.Regexp{
	// Gmail, Apple Mail, Thunderbird: "On Tue, Mar 3, 2026 at 5:15 PM X <x@y> wrote:"
	regexp.MustCompile(`^\s*On\b.{0,300}\bwrote:\s*$`),
	// Gmail and Apple Mail in Chinese: "在 2026年3月3日 17:15，X 写道：", "X 于 … 写道：";
	// in Traditional Chinese (Big5) "在 週四, 2001-12-20 10:39, X 寫道：" (a real
	// capture: testdata/big5_evolution_reply.eml).
	regexp.MustCompile(`^\s*(在|于|於).{0,300}(写道|寫道)[:：]?\s*$`),
	regexp.MustCompile(`^.{0,300}\s(于|於)\s.{0,300}(写道|寫道)[:：]?\s*$`),
	// Gmail in Chinese writes the date right after 于: "X <x@y> 于2023年3月24日周五 00:20写道："
	// (a real capture: testdata/gmail_reply_zh.eml).
	regexp.MustCompile(`^.{0,300}于\s?\d{4}\s?年.{0,100}写道[:：]?\s*$`),
	// Outlook in plain text and mailing-list clients: "Name <x@y> wrote:"
	// (testdata/outlook_reply_exchange.eml).
	regexp.MustCompile(`^.{1,200}<[^<>\s]+@[^<>\s]+>\s*wrote:\s*$`),
	// German and French clients, which dealer groups' customers also use.
	regexp.MustCompile(`^\s*Am\b.{0,300}\bschrieb\b.{0,100}:\s*$`),
	regexp.MustCompile(`^\s*Le\b.{0,300}\ba écrit\s*:\s*$`),
	// Outlook (older) and Lotus: "-----Original Message-----"
	regexp.MustCompile(`(?i)^\s*-{2,}\s*(original message|ursprüngliche nachricht|message d'origine)\s*-{2,}\s*$`),
	// QQ Mail, Foxmail, 163: "------------------ 原始邮件 ------------------", "-----原始邮件-----"
	regexp.MustCompile(`^\s*-{2,}\s*(原始邮件|原始郵件|回复的原邮件|Original)\s*-{2,}\s*$`),
	regexp.MustCompile(`^\s*-{3,}\s*Reply message\s*-{3,}\s*$`),
}

// headerBlock matches the first line of the header block Outlook and the
// Chinese clients put above the quoted message ("From: …", "发件人: …",
// "*From:* …"); a line "Sent:", "Date:", "发送时间:", "日期:" must follow
// closely for it to count.
var (
	headerFrom = regexp.MustCompile(`^\s*[*]?(From|发件人|寄件者|Von|De)[*]?\s*[:：]`)
	headerSent = regexp.MustCompile(`^\s*[*]?(Sent|Date|发送时间|時間|时间|日期|Gesendet|Envoyé)[*]?\s*[:：]`)
	underscore = regexp.MustCompile(`^\s*_{8,}\s*$`)
)

// Fold returns the new part of a message's text, the quoted history folded
// away: everything from the first history marker on, or a trailing block of
// ">"-quoted lines. When the whole text is history (an inline reply that
// starts with its attribution), the quoted lines alone are dropped. A text
// with nothing left is returned whole: the agent must never see nothing.
func Fold(text string) string {
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	cut := historyLine(lines)
	out := strings.TrimSpace(strings.Join(lines[:cut], "\n"))
	if out == "" && cut < len(lines) {
		// An inline reply ("On … wrote:" first, answers between quotes):
		// keep the unquoted lines after the attribution.
		var kept []string
		for i, l := range lines {
			if i == cut || strings.HasPrefix(strings.TrimSpace(l), ">") {
				continue
			}
			kept = append(kept, l)
		}
		out = strings.TrimSpace(strings.Join(kept, "\n"))
		out = blankLines.ReplaceAllString(out, "\n\n")
	}
	if out == "" {
		return strings.TrimSpace(text)
	}
	return out
}

// historyLine returns the index of the first line of quoted history, or
// len(lines).
func historyLine(lines []string) int {
	for i, l := range lines {
		for _, re := range historyStarts {
			if re.MatchString(l) {
				return i
			}
		}
		// An attribution wrapped over two lines: "On … Sales <" / "sales@…> wrote:".
		if i+1 < len(lines) && strings.HasPrefix(strings.TrimSpace(l), "On ") && len(l) < 300 &&
			strings.HasSuffix(strings.TrimSpace(lines[i+1]), "wrote:") {
			return i
		}
		if underscore.MatchString(l) {
			for j := i + 1; j < len(lines) && j <= i+3; j++ {
				if headerFrom.MatchString(lines[j]) {
					return i
				}
			}
		}
		if headerFrom.MatchString(l) {
			for j := i + 1; j < len(lines) && j <= i+4; j++ {
				if headerSent.MatchString(lines[j]) {
					return i
				}
			}
		}
	}
	// A trailing block of ">" lines (bottom-posted history without an
	// attribution line).
	end := len(lines)
	for end > 0 && strings.TrimSpace(lines[end-1]) == "" {
		end--
	}
	start := end
	for start > 0 && (strings.HasPrefix(strings.TrimSpace(lines[start-1]), ">") || strings.TrimSpace(lines[start-1]) == "") {
		start--
	}
	if start < end {
		for start < end && strings.TrimSpace(lines[start]) == "" {
			start++
		}
		return start
	}
	return len(lines)
}
