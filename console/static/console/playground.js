/* The playground: sends the conversation to the gateway's own proxy path from the browser, in
 * the dialect chosen on the page (OpenAI chat, Anthropic Messages or OpenAI Responses), with
 * the console session cookie and X-Aidgate-Playground: 1, and reads the answer in that
 * dialect's format, streamed (server-sent events, read with a ReadableStream) or whole.
 * No dependencies, works offline.
 */
(function () {
  "use strict";
  var form = document.getElementById("playground-form");
  if (!form) { return; }
  var logUrl = form.getAttribute("data-log-url");
  var dialectSelect = document.getElementById("pg-dialect");
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

  function textOf(parts, type) {
    return (parts || []).filter(function (part) { return part && part.type === type; })
      .map(function (part) { return part.text || ""; }).join("");
  }

  /* What differs between the dialects: the request body built from the conversation (kept as
   * plain {role, content} turns, so switching dialects keeps it), the text and token counts of
   * a whole answer, and what one streamed event adds to the answer. */
  var DIALECTS = {
    chat: {
      body: function (model, turns, streaming) {
        var body = { model: model, messages: turns };
        if (streaming) { body.stream = true; body.stream_options = { include_usage: true }; }
        return body;
      },
      answer: function (payload) {
        var choice = payload.choices && payload.choices[0];
        var usage = payload.usage;
        return {
          text: (choice && choice.message && choice.message.content) || "",
          usage: usage ? { input: usage.prompt_tokens, output: usage.completion_tokens } : null
        };
      },
      event: function (chunk, state) {
        if (chunk.usage) { state.usage = { input: chunk.usage.prompt_tokens, output: chunk.usage.completion_tokens }; }
        (chunk.choices || []).forEach(function (choice) {
          if (choice.delta && typeof choice.delta.content === "string") { state.text += choice.delta.content; }
        });
      }
    },
    messages: {
      body: function (model, turns, streaming) {
        // max_tokens is required by the Messages API (SPEC 3.8).
        var body = { model: model, max_tokens: 1024, messages: turns };
        if (streaming) { body.stream = true; }
        return body;
      },
      answer: function (payload) {
        var usage = payload.usage;
        return {
          text: textOf(payload.content, "text"),
          usage: usage ? { input: usage.input_tokens, output: usage.output_tokens } : null
        };
      },
      event: function (chunk, state) {
        if (chunk.type === "message_start" && chunk.message && chunk.message.usage) {
          state.usage = { input: chunk.message.usage.input_tokens, output: chunk.message.usage.output_tokens || 0 };
        } else if (chunk.type === "content_block_delta" && chunk.delta && chunk.delta.type === "text_delta") {
          state.text += chunk.delta.text || "";
        } else if (chunk.type === "message_delta" && chunk.usage) {
          state.usage = {
            input: chunk.usage.input_tokens !== undefined ? chunk.usage.input_tokens : (state.usage || {}).input,
            output: chunk.usage.output_tokens
          };
        }
      }
    },
    responses: {
      body: function (model, turns, streaming) {
        var body = { model: model, input: turns };
        if (streaming) { body.stream = true; }
        return body;
      },
      answer: function (payload) {
        var text = (payload.output || []).filter(function (item) { return item && item.type === "message"; })
          .map(function (item) { return textOf(item.content, "output_text"); }).join("");
        var usage = payload.usage;
        return { text: text, usage: usage ? { input: usage.input_tokens, output: usage.output_tokens } : null };
      },
      event: function (chunk, state) {
        if (chunk.type === "response.output_text.delta" && typeof chunk.delta === "string") {
          state.text += chunk.delta;
        } else if ((chunk.type === "response.completed" || chunk.type === "response.incomplete") && chunk.response) {
          var usage = chunk.response.usage;
          if (usage) { state.usage = { input: usage.input_tokens, output: usage.output_tokens }; }
        } else if (chunk.type === "response.failed") {
          var error = (chunk.response && chunk.response.error) || {};
          state.failure = error.message || "the response failed";
        }
      }
    }
  };

  function dialect() {
    return DIALECTS[dialectSelect.value] || DIALECTS.chat;
  }

  function dialectPath() {
    return dialectSelect.options[dialectSelect.selectedIndex].getAttribute("data-path");
  }

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

  // The three dialects all carry the gateway's code, reason and message in "error".
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

  async function readStream(response, answer, speaker) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    var state = { text: "", usage: null, failure: null };
    function handle(block) {
      var data = block.split(/\r?\n/).filter(function (line) { return line.indexOf("data:") === 0; })
        .map(function (line) { return line.slice(5).replace(/^ /, ""); }).join("\n");
      if (!data || data === "[DONE]") { return; }
      var chunk;
      try { chunk = JSON.parse(data); } catch (e) { return; }
      if (chunk.error && typeof chunk.error === "object") {
        state.failure = chunk.error.code + " (" + chunk.error.reason + "): " + chunk.error.message;
        return;
      }
      var before = state.text;
      speaker.event(chunk, state);
      if (state.text !== before) {
        answer.textContent = state.text;
        transcript.scrollTop = transcript.scrollHeight;
      }
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
    return state;
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
    var speaker = dialect();
    answer.parentNode.setAttribute("data-dialect", dialectSelect.value);
    var streaming = streamInput.checked;
    sendButton.disabled = true;
    status.textContent = "Waiting for the gateway…";
    var started = performance.now();
    var body = speaker.body(modelInput.value.trim(), messages.slice(), streaming);
    try {
      var response = await fetch(dialectPath(), {
        method: "POST", credentials: "same-origin", headers: headers(), body: JSON.stringify(body)
      });
      var requestId = response.headers.get("X-Request-ID");
      var result;
      if (!response.ok) {
        result = { failure: errorText(response.status, await response.text()) };
      } else if (streaming) {
        result = await readStream(response, answer, speaker);
      } else {
        result = speaker.answer(await response.json());
        answer.textContent = result.text;
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
          parts.unshift(result.usage.input + " prompt + " + result.usage.output + " completion tokens");
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
