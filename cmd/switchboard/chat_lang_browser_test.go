package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// langBrowser starts Chromium with the given language: --lang for the UI,
// --accept-lang for navigator.language and Accept-Language (headless
// Chromium takes navigator.language from the latter only).
func langBrowser(t *testing.T, lang string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("lang", lang),
		chromedp.Flag("accept-lang", lang), // what headless Chromium takes navigator.language from
		chromedp.Env("LANGUAGE="+lang, "LANG="+strings.ReplaceAll(lang, "-", "_")+".UTF-8"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 900),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// browserSteps are a test's helpers for one app and its tabs.
type browserSteps struct {
	t *testing.T
	a *app
}

func (b browserSteps) fail(tab context.Context, what string, err error) {
	b.t.Helper()
	screenshot(b.t, tab, "chat-lang-failed")
	ectx, cancel := context.WithTimeout(tab, 5*time.Second)
	body, _ := chromedp.Run(ectx, chromedp.Evaluate[string](`document.body.innerText`))
	cancel()
	b.t.Fatalf("%s: %v\npage text:\n%s\nserver log tail:\n%s", what, err, body, tail(b.a.logs.String(), 3000))
}

func (b browserSteps) step(tab context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(tab, 45*time.Second)
	defer cancel()
	if _, err := chromedp.Call(ctx, page.BringToFront, cdp.Empty{}); err != nil {
		b.fail(tab, what, err)
	}
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail(tab, what, err)
	}
}

func (b browserSteps) poll(what, expr string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(20*time.Second), chromedp.WithPollingInterval(100*time.Millisecond))(ctx, tg)
		if err != nil {
			err = fmt.Errorf("waiting for %s: %w", what, err)
		}
		return chromedp.Void{}, err
	}
}

func (b browserSteps) eval(tab context.Context, expr string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(tab, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.fail(tab, expr, err)
	}
	return v
}

// widgetTexts are the widget's visible strings the tests compare.
const widgetTexts = `JSON.stringify({
  launcher: document.querySelector('#sb-chat-launcher').textContent,
  title: document.querySelector('#sb-title').textContent,
  lang: document.querySelector('#sb-chat-panel').getAttribute('lang'),
  name: document.querySelector('label[for=sb-name]')?.textContent || '',
  start: document.querySelector('#sb-start')?.textContent || '',
  send: document.querySelector('#sb-send').textContent,
})`

// TestBrowserChatSpeaksChinese: the widget shows Simplified Chinese to a
// browser whose language is Chinese (Chromium started with --lang=zh-CN)
// when the site leaves the language to the browser, and to an English
// browser when the site sets zh-CN; an English site setting wins over a
// Chinese browser. The strings asserted are the widget's own, read off the
// page: launcher, title, form label and button, and, once chatting, the
// waiting status, the end and transcript controls.
func TestBrowserChatSpeaksChinese(t *testing.T) {
	zh := langBrowser(t, "zh-CN")
	en := langBrowser(t, "en-US")
	f := newChatFixture(t, nil)
	b := browserSteps{t: t, a: f.a}

	open := func(root context.Context) context.Context {
		t.Helper()
		tab, cancel := chromedp.NewContext(root, chromedp.WithNewBrowserContext())
		t.Cleanup(cancel)
		if err := chromedp.Do(tab); err != nil {
			t.Fatal(err)
		}
		b.step(tab, "open the demo page and the widget",
			chromedp.Navigate(f.a.url+"/demo"),
			chromedp.WaitVisible(chromedp.CSS(`#sb-chat-launcher`)),
			chromedp.Click(chromedp.CSS(`#sb-chat-launcher`)),
			chromedp.WaitVisible(chromedp.CSS(`#sb-name`)),
		)
		return tab
	}

	// 1. The site leaves it to the browser: a Chinese browser.
	zhTab := open(zh)
	if got := b.eval(zhTab, `navigator.language`); got != "zh-CN" {
		t.Fatalf("navigator.language = %q in Chromium started with --lang=zh-CN", got)
	}
	b.step(zhTab, "Chinese texts", b.poll("the form in Chinese", `document.querySelector('#sb-start').textContent === '开始咨询'`))
	want := `{"launcher":"在线咨询","title":"在线客服","lang":"zh-CN","name":"您的姓名 （选填）","start":"开始咨询","send":"发送"}`
	if got := b.eval(zhTab, widgetTexts); got != want {
		t.Errorf("Chinese browser, site language browser: %s, want %s", got, want)
	}
	b.step(zhTab, "start a chat in Chinese",
		chromedp.SendKeys(chromedp.CSS(`#sb-name`), "王伟"),
		chromedp.Click(chromedp.CSS(`#sb-start`)),
		chromedp.WaitVisible(chromedp.CSS(`#sb-input`)),
		chromedp.SendKeys(chromedp.CSS(`#sb-input`), "你好，我的车修好了吗？"),
		chromedp.Click(chromedp.CSS(`#sb-send`)),
		b.poll("waiting in Chinese", `document.querySelector('#sb-status').textContent === '正在为您接通客服…'`),
		b.poll("the end control in Chinese", `document.querySelector('#sb-end').textContent === '结束对话'`),
		b.poll("the transcript control in Chinese", `document.querySelector('#sb-mail').textContent === '通过邮件发送聊天记录' && !document.querySelector('#sb-mail').hidden`),
		b.poll("the visitor's own line", `document.querySelector('#sb-transcript .sb-msg-customer .sb-who')?.textContent === '我'`),
	)
	screenshot(t, zhTab, "chat-widget-zh")

	// 2. The site says Chinese: an English browser shows Chinese once the
	// widget has the settings.
	f.settings(t, strings.Replace(defaultChatSettings, `"language":"browser"`, `"language":"zh-CN"`, 1))
	enTab := open(en)
	if got := b.eval(enTab, `navigator.language`); !strings.HasPrefix(got, "en") {
		t.Fatalf("navigator.language = %q in Chromium started with --lang=en-US", got)
	}
	b.step(enTab, "Chinese by the site's setting", b.poll("the form in Chinese", `document.querySelector('#sb-start').textContent === '开始咨询'`))
	if got := b.eval(enTab, widgetTexts); got != want {
		t.Errorf("English browser, site language zh-CN: %s, want %s", got, want)
	}

	// 3. The site says English: a Chinese browser shows English.
	f.settings(t, strings.Replace(defaultChatSettings, `"language":"browser"`, `"language":"en"`, 1))
	zhTab2 := open(zh)
	b.step(zhTab2, "English by the site's setting", b.poll("the form in English", `document.querySelector('#sb-start').textContent === 'Start chat'`))
	wantEN := `{"launcher":"Chat with us","title":"Chat with us","lang":"en","name":"Your name (optional)","start":"Start chat","send":"Send"}`
	if got := b.eval(zhTab2, widgetTexts); got != wantEN {
		t.Errorf("Chinese browser, site language en: %s, want %s", got, wantEN)
	}
}

// TestBrowserAgentSendsImage: the agent picks an image in the console's
// chat panel; the visitor's widget shows it as a thumbnail that has loaded
// (fetched with the visitor's own token) inside a link to the file, and the
// console shows it too. Then the visitor asks for the transcript, which
// this tenant (no mailbox) cannot send: the widget says so.
func TestBrowserAgentSendsImage(t *testing.T) {
	root := browser(t)
	f := newChatFixture(t, nil)
	b := browserSteps{t: t, a: f.a}
	img := filepath.Join(t.TempDir(), "brochure.png")
	if err := os.WriteFile(img, tinyPNG, 0o600); err != nil {
		t.Fatal(err)
	}

	agent, cancelAgent := chromedp.NewContext(root)
	defer cancelAgent()
	if err := chromedp.Do(agent); err != nil {
		t.Fatal(err)
	}
	b.step(agent, "agent logs in and goes available",
		chromedp.Navigate(f.a.url+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`input[name=email]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=email]`), "lina@huadong.example"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "switchboard-demo"),
		chromedp.Submit(chromedp.CSS(`input[name=password]`)),
		chromedp.WaitVisible(chromedp.CSS(`#presence`)),
		b.poll("connected", `document.querySelector('[data-testid=conn]').textContent.trim() === 'connected'`),
		chromedp.SetValue(chromedp.CSS(`#presence`), "available"),
		b.poll("presence change", `document.querySelector('#presence').dispatchEvent(new Event('change', {bubbles: true}))`),
	)

	visitor, cancelVisitor := chromedp.NewContext(root, chromedp.WithNewBrowserContext())
	defer cancelVisitor()
	if err := chromedp.Do(visitor); err != nil {
		t.Fatal(err)
	}
	b.step(visitor, "visitor starts a chat",
		chromedp.Navigate(f.a.url+"/demo"),
		chromedp.WaitVisible(chromedp.CSS(`#sb-chat-launcher`)),
		chromedp.Click(chromedp.CSS(`#sb-chat-launcher`)),
		chromedp.WaitVisible(chromedp.CSS(`#sb-name`)),
		chromedp.SendKeys(chromedp.CSS(`#sb-name`), "Wang Wei"),
		chromedp.SendKeys(chromedp.CSS(`#sb-email`), "wang.wei@example.cn"),
		chromedp.Click(chromedp.CSS(`#sb-start`)),
		chromedp.WaitVisible(chromedp.CSS(`#sb-input`)),
		chromedp.SendKeys(chromedp.CSS(`#sb-input`), "Do you have a brochure?"),
		chromedp.Click(chromedp.CSS(`#sb-send`)),
	)
	b.step(agent, "agent accepts and sends the image",
		b.poll("the offer", `document.querySelector('[data-testid=offer] [data-testid=offer-customer-name]')?.textContent.includes('Wang Wei') === true`),
		chromedp.Click(chromedp.CSS(`[data-testid=offer] button[data-action=accept]`)),
		chromedp.WaitVisible(chromedp.CSS(`textarea[data-testid=chat-input]`)),
		chromedp.SetUploadFiles(chromedp.CSS(`input[data-testid=chat-file]`), []string{img}),
		b.poll("the image in the console", `[...document.querySelectorAll('[data-testid=transcript] .msg-agent [data-testid=attachment-thumb]')].some(i => i.complete && i.naturalWidth === 1)`),
	)
	b.step(visitor, "the visitor sees the image",
		b.poll("a loaded thumbnail in the agent's line", `[...document.querySelectorAll('#sb-transcript .sb-msg-agent img.sb-thumb')].some(i => i.complete && i.naturalWidth === 1)`),
	)
	href := b.eval(visitor, `document.querySelector('#sb-transcript .sb-msg-agent a.sb-file').href`)
	name := b.eval(visitor, `document.querySelector('#sb-transcript .sb-msg-agent img.sb-thumb').alt`)
	if !strings.Contains(href, "/chat/attachments/") || !strings.Contains(href, "token=") || name != "brochure.png" {
		t.Errorf("the visitor's link = %q, image %q; want the file's route with the visitor token, named brochure.png", href, name)
	}
	screenshot(t, visitor, "chat-agent-image")

	// The transcript control: this tenant has no mailbox that can send, so
	// the widget says so and hides the control.
	b.step(visitor, "the visitor asks for the transcript",
		chromedp.Click(chromedp.CSS(`#sb-mail`)),
		b.poll("the refusal", `document.querySelector('#sb-mail-note').textContent === 'transcripts by e-mail are not available here'`),
		b.poll("the control hidden", `document.querySelector('#sb-mail').hidden`),
	)
}
