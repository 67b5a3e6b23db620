import { mount } from "svelte";
import "./app.css";
import App from "./App.svelte";
import { Phone } from "./lib/phone";

const phone = new Phone();
const target = document.getElementById("app");
if (target) mount(App, { target, props: { phone } });
void phone.start();
