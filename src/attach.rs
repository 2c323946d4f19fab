//! `guard.attach(form)`: a plain HTML form, guarded, without a framework.
//!
//! The form's `submit` (a click, Enter in a field) is intercepted: its fields
//! go through `guard.fetch` to the form's `action` with its `method` and
//! `enctype` (a submit button's `formaction`, `formmethod` and `formenctype`
//! win, as in HTML). While the guard is pending, the form's submit buttons
//! are disabled and the form has `aria-busy="true"`. The outcome is
//! dispatched on the form as `submitguard:success` (`detail.response`) or
//! `submitguard:error` (`detail.error`). The returned function detaches:
//! the listener goes, and the buttons and `aria-busy` are restored.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use gloo_events::{EventListener, EventListenerOptions};
use js_sys::{Array, Function, Object, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    CustomEvent, CustomEventInit, Element, Event, FormData, HtmlButtonElement, HtmlFormElement,
    HtmlInputElement, RequestInit, SubmitEvent, UrlSearchParams,
};

use crate::error::type_error;
use crate::guard::Inner;

/// One attached form.
pub(crate) struct Attachment {
    id: u32,
    form: HtmlFormElement,
    /// `options.headers`, sent with every submission.
    headers: Option<JsValue>,
    /// Strong: an attached form keeps its guard alive (even once the guard
    /// object is freed or collected) until it is detached.
    guard: Rc<Inner>,
    /// What was changed while pending, to restore: each submit button with
    /// its own `disabled`, and the form's `aria-busy` attribute.
    busy: RefCell<Option<Busy>>,
    submit: RefCell<Option<EventListener>>,
}

struct Busy {
    buttons: Vec<(Element, bool)>,
    aria_busy: Option<String>,
}

thread_local! {
    static NEXT_ID: Cell<u32> = const { Cell::new(0) };
    /// Attachments by id, for the detach functions handed to JavaScript.
    static ATTACHED: RefCell<Vec<Weak<Attachment>>> = const { RefCell::new(Vec::new()) };
    /// `detach(id)`: one closure for the whole page, so a detach function is
    /// a plain bound JavaScript function, safe to call twice or after `free()`.
    static DETACH: Closure<dyn Fn(u32)> = Closure::new(|id: u32| {
        let attachment = ATTACHED.with(|all| {
            let mut all = all.borrow_mut();
            all.retain(|a| a.strong_count() > 0);
            all.iter().filter_map(Weak::upgrade).find(|a| a.id == id)
        });
        if let Some(attachment) = attachment {
                        attachment.guard.detach(id);
        }
    });
}

/// `guard.attach(form, options)`.
pub(crate) fn attach(
    inner: &Rc<Inner>,
    form: JsValue,
    options: JsValue,
) -> Result<Function, JsValue> {
    let form: HtmlFormElement = form.dyn_into().map_err(|_| {
        type_error("SubmitGuard.attach: the first argument must be a <form> element")
    })?;
    let headers = attach_options(&options)?;
    let id = NEXT_ID.with(|n| {
        let id = n.get().wrapping_add(1);
        n.set(id);
        id
    });
    let attachment = Rc::new(Attachment {
        id,
        form: form.clone(),
        headers,
        guard: inner.clone(),
        busy: RefCell::new(None),
        submit: RefCell::new(None),
    });
    let weak = Rc::downgrade(&attachment);
    let listener = EventListener::new_with_options(
        &form,
        "submit",
        EventListenerOptions::enable_prevent_default(),
        move |event| {
            if let Some(attachment) = weak.upgrade() {
                attachment.on_submit(event);
            }
        },
    );
    *attachment.submit.borrow_mut() = Some(listener);
    ATTACHED.with(|all| all.borrow_mut().push(Rc::downgrade(&attachment)));
    attachment.sync(inner.machine.borrow().pending());
    inner.attachments.borrow_mut().push(attachment);
    let detach = DETACH.with(|d| {
        let dispatch: &Function<fn(JsValue) -> JsValue> = d.as_ref().unchecked_ref();
        dispatch
            .bind1(&JsValue::NULL, &JsValue::from(id))
            .unchecked_into::<Function>()
    });
    Ok(detach)
}

/// Reads `{ headers }`; anything else is a `TypeError` naming it.
fn attach_options(options: &JsValue) -> Result<Option<JsValue>, JsValue> {
    if options.is_undefined() || options.is_null() {
        return Ok(None);
    }
    if !options.is_object() {
        return Err(type_error("SubmitGuard.attach: options must be an object"));
    }
    let object: &Object = options.unchecked_ref();
    for name in Object::keys(object).iter().filter_map(|k| k.as_string()) {
        if name != "headers" {
            return Err(type_error(&format!(
                "SubmitGuard.attach option `{name}` is not an option; the only option is `headers`"
            )));
        }
    }
    let headers = Reflect::get(options, &"headers".into())?;
    if headers.is_undefined() || headers.is_null() {
        return Ok(None);
    }
    // Checked now, so a bad value fails here and not at the first submit.
    web_sys::Headers::new_with_str_sequence_sequence(&headers)
        .or_else(|_| web_sys::Headers::new_with_record_from_str_to_str(headers.unchecked_ref()))
        .map_err(|_| type_error("SubmitGuard.attach option `headers` must be a Headers, an object or an array of pairs"))?;
    Ok(Some(headers))
}

impl Attachment {
    pub(crate) fn id(&self) -> u32 {
        self.id
    }

    fn on_submit(&self, event: &Event) {
        let guard = &self.guard;
        let submitter = event
            .dyn_ref::<SubmitEvent>()
            .and_then(SubmitEvent::submitter)
            .map(Element::from);
        let overridden = |attribute: &str, property: &str| {
            submitter
                .as_ref()
                .filter(|s| s.has_attribute(attribute))
                .and_then(|s| Reflect::get(s, &property.into()).ok())
                .and_then(|v| v.as_string())
        };
        let method = overridden("formmethod", "formMethod").unwrap_or_else(|| self.form.method());
        if method.eq_ignore_ascii_case("dialog") {
            return; // closes a dialog; not a request
        }
        event.prevent_default();
        if guard.machine.borrow().pending() {
            return; // a duplicate: nothing is sent, no event is dispatched
        }
        let action = overridden("formaction", "formAction").unwrap_or_else(|| self.form.action());
        let enctype =
            overridden("formenctype", "formEnctype").unwrap_or_else(|| self.form.enctype());
        let request = match self.request(submitter.as_ref(), &method, &action, &enctype) {
            Ok(request) => request,
            Err(error) => return dispatch(&self.form, "submitguard:error", "error", &error),
        };
        let (url, init) = request;
        let sent = crate::fetch::fetch(guard, url.into(), Some(init));
        let form = self.form.clone();
        wasm_bindgen_futures::spawn_local(async move {
            match JsFuture::from(sent).await {
                Ok(response) => dispatch(&form, "submitguard:success", "response", &response),
                Err(error) => dispatch(&form, "submitguard:error", "error", &error),
            }
        });
    }

    /// The URL and init the form would submit with.
    fn request(
        &self,
        submitter: Option<&Element>,
        method: &str,
        action: &str,
        enctype: &str,
    ) -> Result<(String, RequestInit), JsValue> {
        let data = form_data(&self.form, submitter)?;
        let init = RequestInit::new();
        init.set_method(&method.to_ascii_uppercase());
        if let Some(headers) = &self.headers {
            Reflect::set(&init, &"headers".into(), headers)?;
        }
        if method.eq_ignore_ascii_case("get") {
            // HTML replaces the action's query with the fields.
            let query =
                String::from(UrlSearchParams::new_with_str_sequence_sequence(&data)?.to_string());
            let base = action.split(['?', '#']).next().unwrap_or(action);
            return Ok((format!("{base}?{query}"), init));
        }
        match enctype {
            "multipart/form-data" => init.set_body(&data),
            "text/plain" => {
                let mut text = String::new();
                for entry in Array::from(&data).iter() {
                    let name = Reflect::get_u32(&entry, 0)?.as_string().unwrap_or_default();
                    let value = Reflect::get_u32(&entry, 1)?;
                    let value = value.as_string().unwrap_or_else(|| file_name(&value));
                    text.push_str(&format!("{name}={value}\r\n"));
                }
                init.set_body(&text.into());
            }
            _ => init.set_body(&UrlSearchParams::new_with_str_sequence_sequence(&data)?.into()),
        }
        Ok((action.to_owned(), init))
    }

    /// Disables the submit buttons and sets `aria-busy` while the guard is
    /// pending; restores both when it is not.
    pub(crate) fn sync(&self, pending: bool) {
        let mut busy = self.busy.borrow_mut();
        match (pending, busy.is_some()) {
            (true, false) => {
                let buttons = submit_buttons(&self.form)
                    .into_iter()
                    .map(|button| {
                        let was = is_disabled(&button);
                        set_disabled(&button, true);
                        (button, was)
                    })
                    .collect();
                let aria_busy = self.form.get_attribute("aria-busy");
                let _ = self.form.set_attribute("aria-busy", "true");
                *busy = Some(Busy { buttons, aria_busy });
            }
            (false, true) => {
                if let Some(saved) = busy.take() {
                    restore(&self.form, saved);
                }
            }
            _ => {}
        }
    }
}

impl Drop for Attachment {
    /// Detaching: the listener goes with `submit`; the form is restored.
    fn drop(&mut self) {
        if let Some(saved) = self.busy.get_mut().take() {
            restore(&self.form, saved);
        }
    }
}

fn restore(form: &HtmlFormElement, saved: Busy) {
    for (button, was) in saved.buttons {
        set_disabled(&button, was);
    }
    let _ = match saved.aria_busy {
        Some(value) => form.set_attribute("aria-busy", &value),
        None => form.remove_attribute("aria-busy"),
    };
}

/// `new FormData(form, submitter)`: the fields, with the clicked button's.
fn form_data(form: &HtmlFormElement, submitter: Option<&Element>) -> Result<FormData, JsValue> {
    let Some(submitter) = submitter else {
        return FormData::new_with_form(form);
    };
    let constructor: Function = Reflect::get(&js_sys::global(), &"FormData".into())?.dyn_into()?;
    Reflect::construct(&constructor, &Array::of2(form, submitter))?.dyn_into()
}

fn file_name(value: &JsValue) -> String {
    value
        .dyn_ref::<web_sys::File>()
        .map(web_sys::File::name)
        .unwrap_or_default()
}

/// The form's submit buttons: `<button>` of type submit, `<input>` of type
/// submit or image, wherever they are (`form.elements` includes those
/// associated through a `form` attribute).
fn submit_buttons(form: &HtmlFormElement) -> Vec<Element> {
    let elements = form.elements();
    (0..elements.length())
        .filter_map(|i| elements.item(i))
        .filter(|e| {
            match (
                e.dyn_ref::<HtmlButtonElement>(),
                e.dyn_ref::<HtmlInputElement>(),
            ) {
                (Some(button), _) => button.type_() == "submit",
                (_, Some(input)) => matches!(input.type_().as_str(), "submit" | "image"),
                _ => false,
            }
        })
        .collect()
}

fn is_disabled(element: &Element) -> bool {
    match (
        element.dyn_ref::<HtmlButtonElement>(),
        element.dyn_ref::<HtmlInputElement>(),
    ) {
        (Some(button), _) => button.disabled(),
        (_, Some(input)) => input.disabled(),
        _ => false,
    }
}

fn set_disabled(element: &Element, disabled: bool) {
    match (
        element.dyn_ref::<HtmlButtonElement>(),
        element.dyn_ref::<HtmlInputElement>(),
    ) {
        (Some(button), _) => button.set_disabled(disabled),
        (_, Some(input)) => input.set_disabled(disabled),
        _ => {}
    }
}

fn dispatch(form: &HtmlFormElement, event: &str, field: &str, value: &JsValue) {
    let detail = Object::new();
    let _ = Reflect::set(&detail, &field.into(), value);
    let init = CustomEventInit::new();
    init.set_bubbles(true);
    init.set_detail(&detail);
    if let Ok(event) = CustomEvent::new_with_event_init_dict(event, &init) {
        let _ = form.dispatch_event(&event);
    }
}
