// The console's bar: the page's own words in the agent's language, the
// language picker, and the search box (search.js).
import { languages, lang, setLang, translatePage } from './i18n.js';
import { el } from './socket.js';
import './search.js';

translatePage();

const pickLang = document.getElementById('lang');
if (pickLang) {
  pickLang.replaceChildren(...languages.map(([code, name]) => el('option', { value: code, lang: code }, name)));
  pickLang.value = lang;
  pickLang.addEventListener('change', () => setLang(pickLang.value));
}
