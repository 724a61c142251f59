// The console's own words in English and Simplified Chinese (issue 8). The
// key is the English text itself, so a string missing from a table, or a
// module not yet translated, still reads as English instead of as a key.
// Placeholders are {name}: t('Attempt {n} of {max}', { n: 1, max: 3 }).
//
// The language is the agent's own choice in the console's bar (kept in
// localStorage: users have no language setting on the server), else the
// browser's first language (zh* → zh-CN), else English. Customer data is
// never translated, only the console's own words.

const STORE_KEY = 'sb-lang';
export const languages = [['en', 'English'], ['zh-CN', '简体中文']];

const zh = {
  // The bar (console.html) and the page.
  'Status': '状态',
  'Available': '空闲',
  'Away': '离开',
  'Offline': '离线',
  'Away reason': '离开原因',
  'Break': '休息',
  'Lunch': '午餐',
  'Meeting': '会议',
  'Training': '培训',
  'Log out': '退出登录',
  'Language': '语言',
  'connecting…': '正在连接…',
  'connected': '已连接',
  'reconnecting…': '正在重新连接…',
  'not an agent': '非坐席',
  'Disposition…': '处理结果…',
  'Choose a disposition.': '请选择处理结果。',
  'You take no contacts here: search and customer records work, offers need an agent profile.': '您在这里不接待联系：可以搜索和查看客户记录，接收分配需要坐席身份。',
  'Offers': '待接入',
  'Your contacts': '我的联系',
  'Dismiss': '关闭',
  'No contacts in hand. While you are Available, offers appear above.': '暂无处理中的联系。状态为“空闲”时，新的分配会显示在上方。',

  // Search (search.js).
  'Search customers': '搜索客户',
  'Search: name, phone, e-mail, plate, VIN, order (/)': '搜索：姓名、电话、邮箱、车牌、VIN、工单号 (/)',
  'Searching…': '正在搜索…',
  'No customer found.': '未找到客户。',
  'Search failed.': '搜索失败。',
  'More results': '更多结果',
  '{n} results': '{n} 个结果',
  'match: {m}': '匹配：{m}',
  'phone': '电话',
  'email': '邮箱',
  'e-mail': '邮件',
  'wechat': '微信',
  'external': '外部编号',
  'vin': 'VIN',
  'plate': '车牌',
  'order': '工单',
  'name': '姓名',
  'pinyin': '拼音',
  'initials': '首字母',

  // Screen-pop and offers (console.js).
  'Contact details': '联系方式',
  'Show number': '显示号码',
  'Your role does not allow full numbers.': '您的角色无权查看完整号码。',
  'Could not show the number.': '无法显示号码。',
  'Restricted customer (outside your sites)': '受限客户（不在您的门店范围）',
  'Unnamed customer': '未命名客户',
  'Unknown visitor': '未知访客',
  'This is the customer': '就是这位客户',
  'This is the customer: {name}': '就是这位客户：{name}',
  'unnamed': '未命名',
  'Not connected; try again.': '未连接，请重试。',
  'Possible customers': '可能的客户',
  'Vehicles': '车辆',
  'Open service orders': '进行中的维修工单',
  'Open deals': '进行中的销售机会',
  'Recent contacts': '最近的联系',
  'promised {date}': '承诺 {date}',
  'Customer details could not be loaded.': '无法加载客户信息。',
  'Loading the customer…': '正在加载客户…',
  'Accept (A)': '接受 (A)',
  'Reject (R)': '拒绝 (R)',
  'Customer 360': '客户全景',
  'Open the customer 360': '打开客户全景',
  'Visitor': '访客',
  'Read': '已读',
  'Delivered': '已送达',
  'The visitor is typing…': '访客正在输入…',
  'The visitor ended the chat.': '访客已结束对话。',
  'sending…': '发送中…',
  'Send a file': '发送文件',
  'The file was not sent.': '文件未发送。',
  'Write a reply… (Enter sends, Shift+Enter new line)': '输入回复…（Enter 发送，Shift+Enter 换行）',
  'Not connected; your reply was kept.': '未连接，您的回复已保留。',
  'Close and wrap up': '关闭并进入话后处理',
  'Transfer to a queue or a colleague': '转给队列或同事',
  'Queues': '队列',
  'Colleagues': '同事',
  'Transfer': '转接',
  'Transfer to ': '转接到 ',
  'Send': '发送',
  '{n} s left': '剩余 {n} 秒',
  'Wrap-up note': '话后备注',
  'Done': '完成',
  'Loading the customer’s history…': '正在加载客户历史…',
  'Call ended — wrap up ': '通话已结束 — 话后处理 ',
  'Closed. Wrap-up ': '已关闭。话后处理 ',
  'Customer history': '客户历史',
  'No customer record.': '没有客户记录。',
  'Wrap-up: ': '话后备注：',
  'Could not load the history.': '无法加载历史记录。',
  'The offer timed out and went back to the queue.': '分配已超时，已退回队列。',
  'The offer was withdrawn.': '分配已撤回。',
  'Waiting for the customer: the thread comes back to you when they write.': '等待客户回复：客户来信后会话将回到您这里。',
  'Transferred to {name}.': '已转给 {name}。',
  'Wrap-up time is over; the contact is closed.': '话后处理时间已到，联系已关闭。',
  'The customer wrote again: the thread comes back to you.': '客户再次来信：会话回到您这里。',
  'You were set Away after several unanswered offers. Set yourself Available when you are back.': '由于多次未应答，您已被设为“离开”。回来后请设为“空闲”。',

  // The call panel (call.js).
  'Caller in the menu': '来电者在语音菜单中',
  'Connecting to your phone…': '正在接通您的电话…',
  'Ringing your phone': '您的电话正在响铃',
  'On call': '通话中',
  'On hold': '保持中',
  'Call ended — wrap up': '通话已结束 — 话后处理',
  'The phone system is putting the caller through to you.': '电话系统正在为您转接来电。',
  'Pick up your phone to talk to the caller.': '请拿起电话与来电者通话。',
  'The caller hears the hold music.': '来电者正在听保持音乐。',
  'hung up': '已挂断',
  'the caller hung up before an answer': '来电者在接听前挂断',
  'your phone was busy': '您的电话占线',
  'your phone did not answer': '您的电话未应答',
  'your phone declined the call': '您的电话拒接了来电',
  'the phone system could not connect the call': '电话系统无法接通',
  'the phone system lost track of the call': '电话系统丢失了该通话',
  'Your phone did not answer; the call went back to the queue.': '您的电话未应答，来电已退回队列。',
  'The caller hung up before the call reached you.': '来电者在转接到您之前挂断了。',
  'The phone system moved the call to someone else.': '电话系统已将来电转给他人。',
  'The call was taken off your workspace.': '该通话已从您的工作区移除。',
  'Talk {t}': '通话 {t}',
  ' · held {t} in all': ' · 共保持 {t}',
  'On hold {t}': '保持 {t}',
  ' · talk {t}': ' · 通话 {t}',
  'Not answered': '未接听',
  ' · held {t}': ' · 保持 {t}',
  'Hold': '保持',
  'Resume': '恢复',
  'Resume the call': '恢复通话',
  'Put the caller on hold': '将来电者设为保持',
  'Call notes (kept as the wrap-up note)': '通话备注（作为话后备注保存）',
  'Notes (kept as the wrap-up note)': '备注（作为话后备注保存）',
  'Call time': '通话时长',
  'Call': '通话',
  'Call ': '通话 ',
  'inbound': '呼入',
  'outbound': '呼出',
  'Transferred': '已转接',
  'Recording available': '有录音',
  'Ended: {cause}': '结束：{cause}',
  'Use your phone’s hold button: the phone system cannot hold calls from here.': '请使用电话上的保持键：电话系统无法从这里保持通话。',
  'Putting the caller on hold…': '正在将来电者设为保持…',
  'Taking the caller off hold…': '正在恢复通话…',
  'Your phone system cannot hold calls from here: use your phone’s hold button.': '您的电话系统无法从这里保持通话：请使用电话上的保持键。',
  'The call is not live any more.': '通话已结束。',
  'Asked the phone system to hold the call…': '已请求电话系统保持通话…',
  'Asked the phone system to resume the call…': '已请求电话系统恢复通话…',
  'Your phone is ringing': '您的电话正在响铃',
  'Answer on your phone': '请在电话上接听',
  'voice': '语音',
  'chat': '在线聊天',

  // The e-mail panel (email.js).
  'E-mail': '邮件',
  'Reply': '回复',
  'Formatting': '格式',
  'Link': '链接',
  '• List': '• 列表',
  '1. List': '1. 列表',
  'Link address (https://…)': '链接地址 (https://…)',
  'Cc (optional)': '抄送（可选）',
  'Cc': '抄送',
  'Canned response': '常用回复',
  'Canned response…': '常用回复…',
  'Attachments': '附件',
  'Send reply': '发送回复',
  'Send and set pending': '发送并等待客户',
  'Send, then wait for the customer': '发送，然后等待客户',
  'Set pending': '等待客户',
  'Wait for the customer without replying': '不回复，等待客户',
  'Loading the e-mail thread failed: {error}': '加载邮件会话失败：{error}',
  'Uploading {name}…': '正在上传 {name}…',
  'Queuing…': '正在排队…',
  'Queued': '已排队',
  'Queued; waiting for the customer': '已排队；等待客户',
  'The reply was not queued: {error}': '回复未能排队：{error}',
  'Waiting for the customer': '等待客户',
  'The thread was not set pending: {error}': '会话未能设为等待：{error}',
  'A reply could not be sent yet ({reason}); retrying.': '回复暂未发出（{reason}），正在重试。',
  'A reply could not be sent ({reason}).': '回复无法发出（{reason}）。',
  ' to ': ' 至 ',
  'Message': '邮件',
  'Show quoted': '显示引用',
  'Hide quoted': '隐藏引用',
  'Not sent ({error})': '未发送（{error}）',
  'Sent': '已发送',
  'Queued, retrying ({error})': '已排队，重试中（{error}）',
  'Retry': '重试',
  'Retry refused: {error}': '重试被拒绝：{error}',
  '{name} (not kept: {reason})': '{name}（未保留：{reason}）',

  // Callbacks (callbacks.js).
  'Callback': '回拨',
  'Dial ': '拨打 ',
  'Reached': '已联系上',
  'No answer': '无人接听',
  'Busy': '占线',
  'Wrong number': '号码错误',
  'Attempt {n} of {max}': '第 {n} 次，共 {max} 次',
  ' · last: {outcome}': ' · 上次：{outcome}',
  ' · until {date}': ' · 截止 {date}',
  'Saving…': '正在保存…',
  'Saved.': '已保存。',
  'Could not save the callback outcome: {error}': '无法保存回拨结果：{error}',
  'Call now': '立即呼叫',
  'Your phone rings first, then the customer\'s': '先呼叫您的电话，再呼叫客户',
  ' or dial ': ' 或拨打 ',
  'Calling your phone…': '正在呼叫您的电话…',
  'Answer your phone; the customer is called next.': '请接听您的电话，随后将呼叫客户。',
  'Could not place the call: {error}': '无法发起呼叫：{error}',
  'reached': '已联系上',
  'no_answer': '无人接听',
  'busy': '占线',
  'wrong_number': '号码错误',

  // The customer 360 (customer.js).
  'Close': '关闭',
  'Close the customer 360 (Esc)': '关闭客户全景 (Esc)',
  'Loading…': '正在加载…',
  'Could not load the customer.': '无法加载客户。',
  'This customer is not visible to you.': '您无法查看此客户。',
  'Profile': '资料',
  'Name': '姓名',
  'Tier': '等级',
  'Owner': '负责人',
  'Notes': '备注',
  'none': '无',
  'you': '您',
  'another user': '其他用户',
  'Edit details': '编辑资料',
  'Save': '保存',
  'Cancel': '取消',
  'Saved': '已保存',
  'Could not save: {error}': '无法保存：{error}',
  'Claim as my customer': '设为我的客户',
  'Chinese': '中文',
  'English': '英文',
  'gold': '金卡',
  'growth': '成长',
  'standard': '标准',
  'Identities': '身份标识',
  'Show full values': '显示完整信息',
  'Add an identity': '添加身份标识',
  'Kind': '类型',
  'Value': '值',
  'Add': '添加',
  'Added': '已添加',
  'Could not add: {error}': '无法添加：{error}',
  'No vehicles.': '没有车辆。',
  'Link a vehicle': '关联车辆',
  'Plate': '车牌',
  'VIN': 'VIN',
  'Make': '品牌',
  'Model': '车型',
  'Year': '年份',
  'Role': '关系',
  'owner': '车主',
  'driver': '驾驶人',
  'household': '家庭成员',
  'fleet': '车队',
  'Link it': '关联',
  'Linked': '已关联',
  'A vehicle with this plate or VIN exists: {vehicle}.': '已存在相同车牌或 VIN 的车辆：{vehicle}。',
  'Link that vehicle': '关联该车辆',
  'Create a new one': '新建车辆',
  'Give a plate or a VIN.': '请填写车牌或 VIN。',
  'Could not link: {error}': '无法关联：{error}',
  'Service orders': '维修工单',
  'No open service orders.': '没有进行中的维修工单。',
  'Deals': '销售机会',
  'No open deals.': '没有进行中的销售机会。',
  'Follow-ups': '跟进任务',
  'No open follow-ups.': '没有未完成的跟进任务。',
  'Create a follow-up': '新建跟进任务',
  'Due': '到期',
  'Note': '备注',
  'reminder': '提醒',
  'callback': '回拨',
  'Create': '创建',
  'Created': '已创建',
  'Could not create: {error}': '无法创建：{error}',
  'due {date}': '到期 {date}',
  'Possible duplicates': '可能的重复客户',
  'No possible duplicates.': '没有可能的重复客户。',
  'Open': '打开',
  'Not the same person': '不是同一个人',
  'Merge into this customer': '合并到此客户',
  'Reason': '原因',
  'Reason (required)': '原因（必填）',
  'Give a reason.': '请填写原因。',
  'Dismissed': '已忽略',
  'Merged': '已合并',
  'Could not merge: {error}': '无法合并：{error}',
  'Could not dismiss: {error}': '无法忽略：{error}',
  'score {n}': '分数 {n}',
  'shared_phone': '相同电话',
  'shared_email': '相同邮箱',
  'shared_wechat': '相同微信',
  'shared_external': '相同外部编号',
  'shared_chat': '相同聊天访客',
  'shared_vehicle': '相同车辆',
  'same_name': '同名',
  'Timeline': '时间线',
  'All': '全部',
  'Load more': '加载更多',
  'No more history.': '没有更多历史记录。',
  'Nothing on this channel yet.': '此渠道暂无记录。',
  'Could not load the timeline.': '无法加载时间线。',
  'Waited {t}': '等待 {t}',
  'talked {t}': '通话 {t}',
  'held {t}': '保持 {t}',
  'wrap-up {t}': '话后 {t}',
  'not answered': '未接听',
  'ended: {cause}': '结束：{cause}',
  'phone busy': '占线',
  'declined': '拒接',
  'call failed': '接通失败',
  'call lost': '通话丢失',
  'queued': '排队中',
  'active': '处理中',
  'pending': '等待客户',
  'closed': '已关闭',
  'abandoned': '已放弃',
  'booked': '已预约',
  'in_progress': '维修中',
  'waiting_parts': '等待配件',
  'ready': '可提车',
  'collected': '已提车',
  'lead': '线索',
  'qualified': '已确认',
  'test_drive': '试驾',
  'offer': '报价',
  'won': '成交',
  'lost': '流失',
  'repair': '维修',
  'maintenance': '保养',
  'warranty': '保修',
};

// English needs words only where a key is a code rather than text.
const en = {
  no_answer: 'no answer',
  wrong_number: 'wrong number',
  in_progress: 'in progress',
  waiting_parts: 'waiting for parts',
  test_drive: 'test drive',
  shared_phone: 'same phone',
  shared_email: 'same e-mail',
  shared_wechat: 'same WeChat',
  shared_external: 'same external id',
  shared_chat: 'same chat visitor',
  shared_vehicle: 'same vehicle',
  same_name: 'same name',
};

const tables = { en, 'zh-CN': zh };

// pick returns the language to use: the agent's choice, else the browser's.
function pick() {
  let saved = '';
  try { saved = localStorage.getItem(STORE_KEY) || ''; } catch { /* storage off */ }
  if (languages.some(([code]) => code === saved)) return saved;
  const prefs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || 'en'];
  for (const p of prefs) {
    const l = String(p).toLowerCase();
    if (l.startsWith('zh')) return 'zh-CN';
    if (l.startsWith('en')) return 'en';
  }
  return 'en';
}

export const lang = pick();
document.documentElement.lang = lang;

// t returns the text of key in the console's language, with vars filled.
export function t(key, vars) {
  const table = tables[lang];
  let s = (table && Object.prototype.hasOwnProperty.call(table, key)) ? table[key] : key;
  if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (Object.prototype.hasOwnProperty.call(vars, k) ? String(vars[k]) : m));
  return s;
}

// setLang keeps the agent's choice and reloads the page in it (the console
// rebuilds everything from the server's snapshot after a reload).
export function setLang(code) {
  try { localStorage.setItem(STORE_KEY, code); } catch { /* storage off: this page only */ }
  location.reload();
}

// translatePage translates the server-rendered page's own words: text of
// elements marked data-i18n, and the attributes named in data-i18n-attr
// ("placeholder,aria-label"), whose English value is the key.
export function translatePage(root = document) {
  for (const e of root.querySelectorAll('[data-i18n]')) e.textContent = t(e.textContent.trim());
  for (const e of root.querySelectorAll('[data-i18n-attr]')) {
    for (const a of e.dataset.i18nAttr.split(',')) {
      const v = e.getAttribute(a.trim());
      if (v) e.setAttribute(a.trim(), t(v));
    }
  }
}

// fmtDateTime formats an ISO time in the console's language.
export function fmtDateTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleString(lang, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

// duration is seconds as m:ss (or h:mm:ss).
export function duration(seconds) {
  const s = Math.max(0, Math.round(Number(seconds) || 0));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = h ? String(m).padStart(2, '0') : String(m);
  return (h ? h + ':' : '') + mm + ':' + String(r).padStart(2, '0');
}
