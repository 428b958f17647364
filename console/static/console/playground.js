/* The playground: sends the chat to the gateway's own /v1/chat/completions from the browser,
 * with the console session cookie and X-Aidgate-Playground: 1, and reads the streamed answer
 * (server-sent events) with a ReadableStream. No dependencies, works offline.
 */
(function () {
  "use strict";
  var form = document.getElementById("playground-form");
  if (!form) { return; }
  var endpoint = form.getAttribute("data-endpoint");
  var logUrl = form.getAttribute("data-log-url");
  var appSelect = document.getElementById("pg-app");
  var agentSelect = document.getElementById("pg-agent");
  var modelInput = document.getElementById("pg-model");
  var promptInput = document.getElementById("pg-prompt");
  var streamInput = document.getElementById("pg-stream");
  var conversationInput = document.getElementById("pg-conversation");
  var sendButton = document.getElementById("pg-send");
  var resetButton = document.getElementById("pg-reset");
  var transcript = document.getElementById("pg-transcript");
  var status = document.getElementById("pg-status");
  var messages = [];

  function turn(who, text, css) {
    var item = document.createElement("div");
    item.className = "playground-turn " + css;
    var label = document.createElement("span");
    label.className = "who";
    label.textContent = who;
    var body = document.createElement("span");
    body.className = "text";
    body.textContent = text;
    item.appendChild(label);
    item.appendChild(body);
    transcript.appendChild(item);
    transcript.scrollTop = transcript.scrollHeight;
    return body;
  }

  function showStatus(requestId, parts) {
    status.textContent = "";
    if (requestId) {
      var link = document.createElement("a");
      link.href = logUrl.replace("__id__", encodeURIComponent(requestId));
      link.textContent = requestId;
      link.id = "pg-request-link";
      status.appendChild(link);
      status.appendChild(document.createTextNode(" · "));
    }
    status.appendChild(document.createTextNode(parts.join(" · ")));
  }

  function errorText(statusCode, raw) {
    try {
      var error = JSON.parse(raw).error;
      return statusCode + " " + error.code + " (" + error.reason + "): " + error.message;
    } catch (e) {
      return statusCode + " " + raw.slice(0, 300);
    }
  }

  function syncApp() {
    var option = agentSelect.options[agentSelect.selectedIndex];
    var appId = option ? option.getAttribute("data-app") : "";
    if (appId && appSelect.querySelector("option[value='" + appId + "']")) {
      appSelect.value = appId;
    }
  }

  function headers() {
    var result = {
      "Content-Type": "application/json",
      "X-Aidgate-Playground": "1",
      "X-Agent-Id": agentSelect.value,
      "X-Conversation-Id": conversationInput.value
    };
    if (appSelect.value) { result["X-App-Id"] = appSelect.value; }
    return result;
  }

  async function readStream(response, answer) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    var text = "";
    var usage = null;
    var failure = null;
    function handle(block) {
      var data = block.split(/\r?\n/).filter(function (line) { return line.indexOf("data:") === 0; })
        .map(function (line) { return line.slice(5).replace(/^ /, ""); }).join("\n");
      if (!data || data === "[DONE]") { return; }
      var chunk;
      try { chunk = JSON.parse(data); } catch (e) { return; }
      if (chunk.error) {
        failure = chunk.error.code + " (" + chunk.error.reason + "): " + chunk.error.message;
        return;
      }
      if (chunk.usage) { usage = chunk.usage; }
      (chunk.choices || []).forEach(function (choice) {
        if (choice.delta && typeof choice.delta.content === "string") {
          text += choice.delta.content;
          answer.textContent = text;
          transcript.scrollTop = transcript.scrollHeight;
        }
      });
    }
    for (;;) {
      var part = await reader.read();
      if (part.done) { break; }
      buffer += decoder.decode(part.value, { stream: true });
      var match;
      while ((match = /\r?\n\r?\n/.exec(buffer)) !== null) {
        handle(buffer.slice(0, match.index));
        buffer = buffer.slice(match.index + match[0].length);
      }
    }
    if (buffer.trim()) { handle(buffer); }
    return { text: text, usage: usage, failure: failure };
  }

  async function send(event) {
    event.preventDefault();
    var prompt = promptInput.value.trim();
    if (!prompt || !agentSelect.value || !modelInput.value.trim()) {
      status.textContent = "Choose an agent and a model, and type a prompt.";
      return;
    }
    messages.push({ role: "user", content: prompt });
    turn("you", prompt, "user");
    promptInput.value = "";
    var answer = turn(modelInput.value.trim(), "", "assistant");
    var streaming = streamInput.checked;
    sendButton.disabled = true;
    status.textContent = "Waiting for the gateway…";
    var started = performance.now();
    var body = { model: modelInput.value.trim(), messages: messages.slice() };
    if (streaming) { body.stream = true; body.stream_options = { include_usage: true }; }
    try {
      var response = await fetch(endpoint, {
        method: "POST", credentials: "same-origin", headers: headers(), body: JSON.stringify(body)
      });
      var requestId = response.headers.get("X-Request-ID");
      var result;
      if (!response.ok) {
        result = { failure: errorText(response.status, await response.text()) };
      } else if (streaming) {
        result = await readStream(response, answer);
      } else {
        var payload = await response.json();
        var content = payload.choices && payload.choices[0] && payload.choices[0].message
          ? payload.choices[0].message.content : "";
        answer.textContent = content || "";
        result = { text: content || "", usage: payload.usage };
      }
      var seconds = ((performance.now() - started) / 1000).toFixed(2) + " s";
      if (result.failure) {
        messages.pop();
        answer.parentNode.classList.add("error");
        answer.textContent = result.failure;
        showStatus(requestId, ["refused or failed", seconds]);
      } else {
        messages.push({ role: "assistant", content: result.text });
        var parts = [seconds];
        if (result.usage) {
          parts.unshift(result.usage.prompt_tokens + " prompt + " + result.usage.completion_tokens + " completion tokens");
        }
        showStatus(requestId, parts);
        answer.parentNode.setAttribute("data-done", "true");
      }
    } catch (error) {
      messages.pop();
      answer.parentNode.classList.add("error");
      answer.textContent = "The gateway could not be reached: " + error.message;
      status.textContent = "";
    } finally {
      sendButton.disabled = false;
      promptInput.focus();
    }
  }

  function reset() {
    messages = [];
    transcript.textContent = "";
    status.textContent = "";
    var random = new Uint8Array(6);
    window.crypto.getRandomValues(random);
    conversationInput.value = "playground-" + Array.prototype.map.call(random, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  agentSelect.addEventListener("change", syncApp);
  form.addEventListener("submit", send);
  resetButton.addEventListener("click", reset);
  promptInput.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { form.requestSubmit(sendButton); }
  });
  syncApp();
})();
