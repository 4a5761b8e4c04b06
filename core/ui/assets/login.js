// Login: the token goes to POST /ui/session once and is cleared from the field; the session lives
// in an HttpOnly cookie the page cannot read. Nothing is written to storage.
const form = document.getElementById('login-form');
const input = document.getElementById('token');
const error = document.getElementById('login-error');

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  error.textContent = '';
  const token = input.value.trim();
  if (token === '') {
    error.textContent = 'Enter the admin token.';
    return;
  }
  let res;
  try {
    res = await fetch('/ui/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }), credentials: 'same-origin' });
  } catch {
    error.textContent = 'The admin API cannot be reached. Is the instance running?';
    return;
  } finally {
    input.value = '';
  }
  if (res.status === 201) {
    location.replace('/ui/');
    return;
  }
  let message = `Login failed (HTTP ${res.status}).`;
  try {
    const body = await res.json();
    if (res.status === 401) message = 'Wrong token: that is not the admin token of this instance.';
    else if (res.status === 429) message = 'Too many attempts: wait a minute and try again.';
    else if (body && typeof body.message === 'string') message = body.message;
  } catch {
    /* keep the generic message */
  }
  error.textContent = message;
  input.focus();
});
