package email

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/traditionalchinese"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestParseCorpus parses every fixture in testdata (see its README for
// where each came from) and checks what an agent and threading get.
func TestParseCorpus(t *testing.T) {
	lim := Limits{MaxAttachmentBytes: 64 << 10}
	tests := []struct {
		file        string
		messageID   string
		synthetic   bool
		inReplyTo   string
		from, name  string
		subject     string
		folded      string   // exactly
		notInFolded []string // history that must be folded away
		textHas     []string // the full text keeps the history
		noise       string
		// autoSubmitted: the message carries Auto-Submitted (RFC 3834).
		autoSubmitted bool
		attachments   int
		rejected      int
		bounceRcpt    string
		bounceStatus  string
		bounceOf      string
		htmlHas       []string
		htmlHasNot    []string
	}{
		// Real captures (testdata/SOURCES.md): Outlook (Exchange) in plain
		// text, quote on top, the answer below; Gmail in Chinese, its
		// attribution "于…写道：", the answer between quotes.
		{file: "outlook_reply_exchange.eml", messageID: "dd207e59f26842b984302e1162a9b4ad@realtek.com",
			inReplyTo: "1f544dc4-17f6-4401-995d-5cb4567b82fa@gmail.com", from: "pkshih@realtek.com", name: "Ping-Ke Shih",
			subject:     "RE: [PATCH rtw-next 2/3] wifi: rtl8xxxu: Dump the efuse right after reading it",
			folded:      "Reviewed-by: Ping-Ke Shih <pkshih@realtek.com>",
			notInFolded: []string{"Bitterblue Smith", "magic value"}, textHas: []string{"> the expected magic value of 0x8129."}},
		{file: "gmail_reply_zh.eml", messageID: "CAJedcCznj8Ve7GOJxopG6X9eDXfi8MMKr+BtTZK7D1xDf0PaBQ@mail.gmail.com",
			inReplyTo: "ZBx8S0tSz/Ot+xw7@kroah.com", from: "hackerzheng666@gmail.com", name: "Zheng Hacker",
			subject:     "Re: [PATCH] USB: gadget: udc: Fix use after free bug in udc_plat_remove due to race condition",
			folded:      "Hi,\n\nSorry for my late reply. I will try to simulate a device in qemu to test.\n\nBest regards,\nZheng",
			notInFolded: []string{"写道", "Please test this", "greg k-h"},
			textHas:     []string{"Greg KH <gregkh@linuxfoundation.org> 于2023年3月24日周五 00:20写道：", "Platform driver\")"}},
		{file: "forward.eml", messageID: "9f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b@customer.example", from: "chen.jie@customer.example",
			name: "Chen Jie", subject: "Fwd: Insurance claim 2026-0388", attachments: 1,
			// A forward is the customer's content, not history: it stays.
			textHas: []string{"Forwarded message", "approved up to 5,000 yuan"}},
		{file: "foxmail_gbk_reply.eml", messageID: "tencent_7A1B2C3D4E5F60718293A4B5C6D7E8F90A05@qq.com",
			inReplyTo: "sb-out-0004@dealer.example", from: "wang.xm@foxmail.com", name: "王小明",
			subject: "回复: 保养预约 周六上午", folded: "好的，周六上午十点到店。\n车牌 沪A12345。\n\n王小明",
			notInFolded: []string{"原始邮件", "方便到店"}, textHas: []string{"原始邮件", "您好，请问周六上午方便到店保养吗？"}},
		// A real Foxmail 7.2 reply in GB2312 (base64 text, quoted-printable
		// HTML) through a list: the subject's encoded word decodes, the
		// header block "发件人：/发送时间：" starts the history. Foxmail put
		// the writer's inline answers inside that unmarked block, so Fold
		// hides them too (they stay in the text, behind "show quoted"): no
		// marker tells them from the quote.
		{file: "foxmail_gb2312_list_reply.eml", messageID: "2020101911134102451012@oppo.com",
			from: "huangjianan@oppo.com", name: "huangjianan@oppo.com",
			subject: "回复: [WIP] [PATCH 04/12] erofs-utils: fuse: adjust larger extent handling", noise: NoiseList,
			folded:      "Hi, Gao Xiang，",
			notInFolded: []string{"发件人", "主题"},
			textHas:     []string{"发送时间： 2020-10-17 13:16", "I think you mean map.m_llen intesad of map_m_llen.", "本电子邮件及其附件含有OPPO公司的保密信息"},
			htmlHas:     []string{"<b>发件人：</b>", "I think you mean map.m_llen"},
			htmlHasNot:  []string{"<style", "line-height", "<meta"}},
		{file: "list_reply_gb18030.eml", messageID: "5050b57d-bf2d-9615-fb2c-9f3edfbd84d5@huawei.com",
			inReplyTo: "tencent_4AE55DADBCB537681FA35D97D66948F2E209@qq.com", from: "gaoxiang25@huawei.com", name: "Gao Xiang",
			subject: "Re: 回复：eros性能问题", noise: NoiseList,
			folded:      "至少对于不压缩的情况，难以理解随机读有差异。\n\n谢谢。",
			notInFolded: []string{"原始邮件", "没有启用directIO"}, textHas: []string{"没有启用directIO"}},
		{file: "attachment_over_limit.eml", messageID: "A1B2C3D4-E5F6-4789-ABCD-EF0123456789@customer.example",
			from: "sun.li@customer.example", name: "Sun Li", subject: "Scan of my invoice", folded: "Here is the invoice scan.",
			attachments: 2, rejected: 1, htmlHas: []string{`src="cid:logo@customer.example"`}},
		{file: "auto_reply_zh.eml", messageID: "auto-7f3e2d1c@customer.example", inReplyTo: "sb-out-0001@dealer.example",
			from: "li.ming@customer.example", name: "Li Ming", subject: "自动回复: 保养预约", noise: NoiseAutoReply,
			folded: "您好，我正在休假，3月10日返回。"},
		{file: "dsn_exchange2007.eml", messageID: "000000000000000000000000000000000000000000000000@example.com",
			from: "mailer-daemon@example.com", subject: "Undeliverable: Nyaan", noise: NoiseBounce, attachments: 1,
			bounceRcpt: "mikeneko@example.co.jp", bounceStatus: "5.1.1"},
		// Real captures (testdata/SOURCES.md) that replaced or joined the
		// synthetic shapes: Exchange's out-of-office (no Auto-Submitted, its
		// subject says it), a Zimbra vacation reply (Auto-Submitted and
		// Precedence: bulk), a mailbox-full notice without a Message-ID,
		// an Evolution reply in 8-bit Big5 with a Traditional Chinese
		// attribution, an Apple Mail forward as message/rfc822 (its sender's
		// name an unpadded base64 word), Outlook's ISO-2022-JP name.
		{file: "auto_reply_exchange_oof.eml", messageID: "1234.1212@example.com", from: "fred@example.com", name: "Fred Somebody",
			subject: "Out of Office: I like turtles", noise: NoiseAutoReply,
			folded: "I am away on vacation, Monday May 25 through May 29, 2009. I will be back in the office on June 1. Please call 562-922-6216 for immediate assitance."},
		{file: "auto_reply_zimbra.eml", messageID: "1257668210.10263839.1486754116408.JavaMail.zimbra@example.com.br",
			inReplyTo: "20170210191426.1wKDapP798yQEJKMGjlLVAmNMYzWOBbq@example.net.br", from: "kijitora@example.org", name: "Kijitora",
			subject: "Re: EXAMPLE", noise: NoiseAutoReply, autoSubmitted: true,
			folded: "Estarei ausente do dia 08/02 até o dia 12/03\nfavor encaminhar email para kijitora e example.org"},
		{file: "no_message_id_postmaster.eml", synthetic: true, from: "postmaster@yyyyyy.de", subject: "email bounce notification",
			noise: NoiseBounce, autoSubmitted: true, textHas: []string{"reject reason: Mailbox full"}},
		{file: "big5_evolution_reply.eml", messageID: "1008836323.972.6.camel@star7.planet.rcn.com.hk",
			inReplyTo: "15393.20331.862567.47007@charged.uio.no", from: "davidchow@rcn.com.hk", name: "David Chow",
			subject:     "Re: nfsroot dead slow with redhat 7.2",
			folded:      big5Answer,
			notInFolded: []string{"寫道", "tcpdump", "Trond"},
			textHas:     []string{"在 週四, 2001-12-20 10:39, Trond Myklebust 寫道：", "> As I said: 'tcpdump' ought to show you what is going on"}},
		{file: "forward_applemail_rfc822.eml", messageID: "A3CE5E53-2501-4A47-9E48-ACB6137B9E96@example.com",
			from: "dummy@example.com", name: "xpto", subject: "original as attachment",
			folded: "it shouldn't be considered as bounce", attachments: 1},
		{file: "iso2022jp_outlook_list.eml", messageID: "ZaEe8FC767f+sxRQ@jeru.linux.bs1.fc.nec.co.jp",
			from: "junichi.nomura@nec.com", name: "NOMURA JUNICHI(野村　淳一)", noise: NoiseList,
			subject: "[PATCH repost] x86/boot: Add a message about ignored early NMIs",
			textHas: []string{"https://lore.kernel.org/lkml/20231130103339.GCZWhlA196uRklTMNF@fat_crate.local/", "+\tspurious_nmi_count++;"}},
		{file: "no_message_id.eml", synthetic: true, from: "juergen.mueller@customer.example", name: "Jürgen Müller",
			subject: "Tür klemmt", folded: "Die Fahrertür klemmt seit gestern. Können Sie mir einen Termin geben?"},
		{file: "html_only_script.eml", messageID: "html-only-0001@customer.example", from: "zhao.min@customer.example",
			name: "Zhao Min", subject: "Test drive request",
			folded:     "I would like a test drive of the EV6 on Saturday.\nmy current car click",
			htmlHas:    []string{"<b>test drive</b>", `src="cid:sig@customer.example"`, `src="about:blank"`, `rel="nofollow noreferrer noopener"`, `target="_blank"`},
			htmlHasNot: []string{"script", "alert", "tracker.example", "onload", "onclick", "javascript:", "iframe", "evil.example"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			m, err := Parse(readFixture(t, tt.file), lim)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if tt.synthetic {
				if !m.MessageIDSynthetic || !strings.HasSuffix(m.MessageID, "@no-message-id.switchboard.invalid") {
					t.Errorf("MessageID = %q (synthetic %v), want a synthetic id", m.MessageID, m.MessageIDSynthetic)
				}
			} else if m.MessageID != tt.messageID || m.MessageIDSynthetic {
				t.Errorf("MessageID = %q, want %q", m.MessageID, tt.messageID)
			}
			if m.InReplyTo != tt.inReplyTo {
				t.Errorf("InReplyTo = %q, want %q", m.InReplyTo, tt.inReplyTo)
			}
			if m.From.Addr != tt.from || m.From.Name != tt.name {
				t.Errorf("From = %+v, want %q <%s>", m.From, tt.name, tt.from)
			}
			if m.Subject != tt.subject {
				t.Errorf("Subject = %q, want %q", m.Subject, tt.subject)
			}
			if tt.folded != "" && m.Folded != tt.folded {
				t.Errorf("Folded = %q, want %q", m.Folded, tt.folded)
			}
			for _, s := range tt.notInFolded {
				if strings.Contains(m.Folded, s) {
					t.Errorf("Folded %q still shows the history %q", m.Folded, s)
				}
			}
			for _, s := range tt.textHas {
				if !strings.Contains(m.Text, s) {
					t.Errorf("Text lost %q: %q", s, m.Text)
				}
			}
			if m.Noise != tt.noise {
				t.Errorf("Noise = %q, want %q", m.Noise, tt.noise)
			}
			if tt.autoSubmitted && !m.AutoSubmitted {
				t.Error("AutoSubmitted = false, want true")
			}
			rejected := 0
			for _, a := range m.Attachments {
				if a.Rejected != "" {
					rejected++
					if a.Data != nil || a.Size <= lim.MaxAttachmentBytes || !strings.Contains(a.Rejected, "too large") {
						t.Errorf("refused attachment %+v: want no data, its true size and the reason", a.Rejected)
					}
				} else if int64(len(a.Data)) != a.Size {
					t.Errorf("attachment %q: %d bytes kept, size %d", a.Filename, len(a.Data), a.Size)
				}
			}
			if len(m.Attachments) != tt.attachments || rejected != tt.rejected {
				t.Errorf("attachments = %d (%d refused), want %d (%d refused)", len(m.Attachments), rejected, tt.attachments, tt.rejected)
			}
			if tt.bounceRcpt != "" {
				if m.Bounce == nil || m.Bounce.Recipient != tt.bounceRcpt || m.Bounce.Status != tt.bounceStatus {
					t.Errorf("Bounce = %+v, want %s %s", m.Bounce, tt.bounceRcpt, tt.bounceStatus)
				}
			} else if m.Bounce != nil && tt.noise != NoiseBounce {
				t.Errorf("Bounce = %+v, want none", m.Bounce)
			}
			for _, s := range tt.htmlHas {
				if !strings.Contains(m.HTMLSanitized, s) {
					t.Errorf("sanitised HTML lacks %q: %s", s, m.HTMLSanitized)
				}
			}
			for _, s := range tt.htmlHasNot {
				if strings.Contains(m.HTMLSanitized, s) {
					t.Errorf("sanitised HTML keeps %q: %s", s, m.HTMLSanitized)
				}
			}
		})
	}
}

// big5Answer is what Fold keeps of the real Big5 reply: its answer below
// the quote, without the attribution "在 週四, … 寫道：".
const big5Answer = "Just find out... it is a problem of some settings in /etc directory \n" + // the writer's trailing space
	`it is not related to the FSes . I replaced the /etc directory with the
one we are using on the production machines... by the way. What can be
wrong? When it starts init , and execute the /etc/rc.d/rc.sysinit , it
is hell slow. We have tried replace /sbin/init with bash and we got out
a shell but "ls -l" takes more than 2 minutes... do you know what sort
of settings in the /etc will affect use space "bash" or "glibc" on
nfsroot behaves different ? This is so strange.

Thanks

David`

// TestParseRealForward: a real Apple Mail forward keeps the forwarded
// message whole as an attachment; its returned-looking headers (Return-Path,
// Received) do not make it a bounce.
func TestParseRealForward(t *testing.T) {
	m, err := Parse(readFixture(t, "forward_applemail_rfc822.eml"), Limits{MaxAttachmentBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	a := m.Attachments[0]
	if a.Filename != "original.eml" || a.ContentType != "message/rfc822" || a.Inline || a.Rejected != "" ||
		!bytes.Contains(a.Data, []byte("Message-Id: <E5CEC0EA-2569-48E3-A47E-B01E78F1A409@example.com>")) {
		t.Errorf("forwarded message = %q %q inline %v rejected %q, %d bytes", a.Filename, a.ContentType, a.Inline, a.Rejected, len(a.Data))
	}
	if m.Bounce != nil || m.Noise != "" {
		t.Errorf("a forward classified as %q (bounce %+v)", m.Noise, m.Bounce)
	}
}

// TestParseRealNoMessageID: the real notice without a Message-ID gets the
// same synthetic id however often it is parsed (its copies are one message),
// and a different one from the synthetic fixture without Message-ID.
func TestParseRealNoMessageID(t *testing.T) {
	raw := readFixture(t, "no_message_id_postmaster.eml")
	a, err1 := Parse(raw, Limits{})
	b, err2 := Parse(append([]byte("Received: from relay.example by mx.example; Sun, 5 Oct 2025 08:00:07 +0200\n"), raw...), Limits{})
	c, err3 := Parse(readFixture(t, "no_message_id.eml"), Limits{})
	if err1 != nil || err2 != nil || err3 != nil {
		t.Fatal(err1, err2, err3)
	}
	if a.MessageID != b.MessageID {
		t.Errorf("synthetic ids differ across deliveries: %q, %q", a.MessageID, b.MessageID)
	}
	if a.MessageID == c.MessageID {
		t.Errorf("two different messages share the synthetic id %q", a.MessageID)
	}
	if a.Bounce == nil || a.Bounce.Recipient != "" {
		t.Errorf("Bounce = %+v, want a bounce without a machine-readable recipient", a.Bounce)
	}
}

func TestDecodeWordsUnpadded(t *testing.T) {
	for in, want := range map[string]string{
		"=?utf-8?B?eHB0bw?=":            "xpto",        // Apple Mail 11, real (forward_applemail_rfc822.eml)
		"=?utf-8?B?eHB0bw==?=":          "xpto",        // padded
		"=?utf-8?b?5byg5LiJ?= <x@y.cn>": "张三 <x@y.cn>", // whole base64 quanta
		"=?utf-8?B?eA?=":                "x",
		"=?utf-8?B?e?=":                 "=?utf-8?B?e?=", // not base64 at any padding: left alone
	} {
		if got := decodeWords(in); got != want {
			t.Errorf("decodeWords(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseAttachmentDetails(t *testing.T) {
	m, err := Parse(readFixture(t, "attachment_over_limit.eml"), Limits{MaxAttachmentBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	logo, pdf := m.Attachments[0], m.Attachments[1]
	if logo.Filename != "logo.png" || logo.ContentID != "logo@customer.example" || !logo.Inline || logo.ContentType != "image/png" || logo.Data == nil {
		t.Errorf("inline image = %+v", logo)
	}
	if pdf.Filename != "invoice-scan.pdf" || pdf.Size != 100*1024 || pdf.Data != nil || pdf.Rejected != "too large: 102400 bytes, the limit is 65536" {
		t.Errorf("large PDF = name %q size %d rejected %q", pdf.Filename, pdf.Size, pdf.Rejected)
	}
	// Under a higher limit the same PDF is kept whole.
	m, err = Parse(readFixture(t, "attachment_over_limit.eml"), Limits{MaxAttachmentBytes: 1 << 20})
	if err != nil || m.Attachments[1].Rejected != "" || len(m.Attachments[1].Data) != 100*1024 {
		t.Errorf("PDF under a 1 MiB limit: err %v, %+v", err, m.Attachments[1].Rejected)
	}
}

func TestParseCharsets(t *testing.T) {
	big5, _ := traditionalchinese.Big5.NewEncoder().String("請問保養費用")
	sjis, _ := japanese.ShiftJIS.NewEncoder().String("点検の予約をお願いします")
	tests := []struct {
		name, charset, body, want string
	}{
		{"Big5", "big5", big5, "請問保養費用"},
		{"Shift_JIS", "Shift_JIS", sjis, "点検の予約をお願いします"},
		{"ISO-8859-2", "iso-8859-2", "\xa3\xf3d\xbc", "Łódź"},
		// "镕" is GBK but not GB2312: clients label such text gb2312.
		{"GBK labelled gb2312", "gb2312", "\xe9\x46", "镕"},
	}
	for _, tt := range tests {
		raw := "From: a@example.com\r\nMessage-ID: <x@example.com>\r\nContent-Type: text/plain; charset=" + tt.charset + "\r\n\r\n" + tt.body
		m, err := Parse([]byte(raw), Limits{})
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if m.Text != tt.want {
			t.Errorf("%s: Text = %q, want %q", tt.name, m.Text, tt.want)
		}
	}
}

func TestFold(t *testing.T) {
	tests := []struct{ in, want string }{
		{"ok\n\n-----Original Message-----\nFrom: x\nhello", "ok"},
		{"收到\n------------------ 原始邮件 ------------------\n发件人: x", "收到"},
		{"好\n\n发件人: 服务顾问\n发送时间: 2026年3月5日\n主题: 保养", "好"},
		{"Sounds good.\n\nOn Tue, Sep 29, 2026 at 10:00 AM Acme <\nsupport@acme.test> wrote:\n> hi", "Sounds good."},
		{"行\n\n> 上一封\n> 的内容", "行"},
		{"在 2026年3月3日 17:15，销售 写道：\n> 报价", "在 2026年3月3日 17:15，销售 写道：\n> 报价"}, // all history: shown whole
		{"I wrote: nothing special on Monday", "I wrote: nothing special on Monday"},
		{"在 週四, 2001-12-20 10:39, 王大明 寫道：\n> 報價\n\n收到，謝謝", "收到，謝謝"},
		{"好\n\n王大明 於 2026年3月3日 寫道：\n> 報價", "好"},
		{"> only a quote", "> only a quote"},
		{"王伟 <w@example.cn> 于2026年3月3日周二 17:15写道：\n> 报价\n\n好的，谢谢", "好的，谢谢"},
		{"Li Ming <li@example.cn> wrote:\n> the quote\n\nAgreed.", "Agreed."},
		{"He said Bob <b@x.example> wrote: it first", "He said Bob <b@x.example> wrote: it first"},
	}
	for _, tt := range tests {
		if got := Fold(tt.in); got != tt.want {
			t.Errorf("Fold(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseRefusals(t *testing.T) {
	if _, err := Parse(bytes.Repeat([]byte("a"), 2048), Limits{MaxMessageBytes: 1024}); err == nil {
		t.Error("a message over MaxMessageBytes parsed")
	}
	if _, err := Parse([]byte("this is not\x00 a header\r\n"), Limits{}); err == nil {
		t.Error("a message without a header parsed")
	}
}

// FuzzParse: whatever arrives, Parse returns (within a deadline) a message
// whose text PostgreSQL can store, or an error; it never panics.
func FuzzParse(f *testing.F) {
	entries, _ := os.ReadDir("testdata")
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".eml") && e.Name() != "attachment_over_limit.eml" {
			f.Add(readFixture(f, e.Name()))
		}
	}
	f.Add([]byte("Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x--"))
	f.Add([]byte("Subject: =?gbk?B?zqg=?=\r\nContent-Type: text/plain; charset=x-unknown\r\n\r\n\xff\xfe"))
	lim := Limits{MaxMessageBytes: 1 << 20, MaxAttachmentBytes: 4096, MaxParts: 64, MaxDepth: 8}
	f.Fuzz(func(t *testing.T, raw []byte) {
		done := make(chan struct{})
		var m *Message
		var err error
		go func() {
			defer close(done)
			m, err = Parse(raw, lim)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("Parse did not return within 5 s on %d bytes", len(raw))
		}
		if err != nil {
			return
		}
		for _, s := range []string{m.MessageID, m.Subject, m.From.Addr, m.From.Name, m.Text, m.Folded, m.HTMLSanitized} {
			if strings.ContainsRune(s, 0) || !utf8Valid(s) {
				t.Fatalf("unstorable text %q", s)
			}
		}
		if m.MessageID == "" {
			t.Fatal("no message id")
		}
	})
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "") == s }
